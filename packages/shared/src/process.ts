/**
 * A service run as an OS process: a subgraph served on its configured port with its verifiers
 * (access tokens, and service tokens for it) and its service key, and an orderly, bounded stop on
 * SIGINT or SIGTERM. The entry points
 * (`subgraphs/<name>/main.ts`, `gateway/src/main.ts`) and @chat/system (every service in one
 * process) use it. It lives here, below every service, and imports none: a service's entry point
 * that imported @chat/system instead would import its own package back through it.
 */
import type { JWTVerifyGetKey } from 'jose';
import { createTokenVerifier, remoteKeys } from './auth';
import type { Config, SubgraphName } from './config';
import { loadServiceKeyring, type ServiceKeyring, type ServiceSigner } from './service-auth';
import { serveSubgraph, type RunningSubgraph, type SubgraphService } from './subgraph';
import { startTracing } from './tracing';

/** What a process logs its start and stop with. */
export interface ProcessLog {
  info(fields: object, message: string): void;
}

/** How to build one subgraph, given to the code that runs it by the code that knows it. */
export interface SubgraphDefinition<S extends SubgraphService<any> = SubgraphService<any>> {
  name: SubgraphName;
  /** Builds the service (store, queues, resolvers) from the configuration; `signer` signs its calls to peers as this service. */
  create(config: Config, signer: ServiceSigner): Promise<S>;
  /** The keys that verify its callers' tokens when it holds them itself (users); others fetch the users subgraph's JWKS. */
  ownKeys?(service: S): JWTVerifyGetKey;
}

/** The port a subgraph listens on: the one in its configured URL. */
export function subgraphPort(config: Config, name: SubgraphName): number {
  return Number(new URL(config.subgraphUrls[name]).port);
}

/** Builds a subgraph and serves it on its configured port, with its own key from the deployment's `keyring`. */
export async function startSubgraphFrom<S extends SubgraphService<any>>(definition: SubgraphDefinition<S>, config: Config, keyring: ServiceKeyring): Promise<RunningSubgraph<any>> {
  const { name } = definition;
  const service = await definition.create(config, keyring.signer(name));
  const keys = definition.ownKeys?.(service) ?? remoteKeys(config.subgraphUrls.users);
  const tokens = createTokenVerifier({ keys, issuer: config.auth.issuer, audience: config.auth.audience });
  return serveSubgraph(service, { port: subgraphPort(config, name), host: config.host, verifiers: { tokens, services: keyring.verifier(name) }, config });
}

/** How long a process may take to shut down before it exits anyway (unfinished jobs stay queued for others). */
export const SHUTDOWN_TIMEOUT_MS = 10_000;

/** On SIGINT or SIGTERM: stop, within SHUTDOWN_TIMEOUT_MS, then exit. */
export function exitOnSignal(stop: () => Promise<void>, log: ProcessLog): void {
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping');
      const deadline = setTimeout(() => process.exit(1), SHUTDOWN_TIMEOUT_MS);
      deadline.unref();
      void stop().then(() => process.exit(0), () => process.exit(1));
    });
  }
}

/** Runs one subgraph as its own process until SIGINT or SIGTERM, traced (OpenTelemetry) as that service. */
export async function runSubgraphAlone<S extends SubgraphService<any>>(definition: SubgraphDefinition<S>, config: Config, log: ProcessLog): Promise<void> {
  const tracing = startTracing(config, definition.name);
  const subgraph = await startSubgraphFrom(definition, config, loadServiceKeyring(config));
  log.info({ url: subgraph.url }, `${definition.name} subgraph ready`);
  // Spans still buffered are flushed after the service has stopped.
  exitOnSignal(() => subgraph.close().finally(() => tracing.shutdown()), log);
}
