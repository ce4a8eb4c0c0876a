import { createTokenVerifier, remoteKeys } from '@chat/shared/auth';
import { SUBGRAPH_NAMES, type Config, type SubgraphName } from '@chat/shared/config';
import { serveSubgraph, type RunningSubgraph, type SubgraphService } from '@chat/shared/subgraph';
import { startTracing } from '@chat/shared/tracing';
import { startGateway, type RunningGateway } from '@chat/gateway';
import { createCharactersSubgraph } from '@chat/characters';
import { createConversationsSubgraph } from '@chat/conversations';
import { createMessagesSubgraph } from '@chat/messages';
import { createUsersSubgraph, type UsersService } from '@chat/users';

/** Builds one subgraph's service from the configuration. */
const factories: Record<SubgraphName, (config: Config) => Promise<SubgraphService<any>>> = {
  users: createUsersSubgraph,
  characters: createCharactersSubgraph,
  conversations: createConversationsSubgraph,
  messages: createMessagesSubgraph,
};

/** The port a subgraph listens on: the one in its configured URL. */
export function subgraphPort(config: Config, name: SubgraphName): number {
  return Number(new URL(config.subgraphUrls[name]).port);
}

/** Starts one subgraph on its configured port; the users subgraph verifies tokens with its own keys, others over JWKS. */
export async function startSubgraph(name: SubgraphName, config: Config): Promise<RunningSubgraph<any>> {
  const service = await factories[name](config);
  const keys = name === 'users' ? (service as UsersService).keys.getKey : remoteKeys(config.subgraphUrls.users);
  const verifier = createTokenVerifier({ keys, issuer: config.auth.issuer, audience: config.auth.audience });
  return serveSubgraph(service, { port: subgraphPort(config, name), host: config.host, verifier, config });
}

/** The whole system in one process. */
export interface RunningSystem {
  gateway: RunningGateway;
  subgraphs: Record<SubgraphName, RunningSubgraph<any>>;
  stop(): Promise<void>;
}

/** Starts the four subgraphs, then the gateway in front of them. */
export async function startSystem(config: Config): Promise<RunningSystem> {
  const started = await Promise.allSettled(SUBGRAPH_NAMES.map((name) => startSubgraph(name, config)));
  const running = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await Promise.all(running.map((s) => s.close()));
    throw failed.reason;
  }
  const subgraphs = Object.fromEntries(running.map((s) => [s.service.name, s])) as RunningSystem['subgraphs'];
  const gateway = await startGateway(config).catch(async (error) => {
    await Promise.all(running.map((s) => s.close()));
    throw error;
  });
  return {
    gateway,
    subgraphs,
    async stop() {
      await gateway.close();
      // Messages first: its in-flight replies still charge credits through the users subgraph.
      await subgraphs.messages.close();
      await Promise.all(running.filter((s) => s !== subgraphs.messages).map((s) => s.close()));
    },
  };
}

/** How long a process may take to shut down before it exits anyway (unfinished jobs stay queued for others). */
export const SHUTDOWN_TIMEOUT_MS = 10_000;

/** On SIGINT or SIGTERM: stop, within SHUTDOWN_TIMEOUT_MS, then exit. */
export function exitOnSignal(stop: () => Promise<void>, log: { info(o: object, m: string): void }): void {
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
export async function runSubgraphAlone(name: SubgraphName, config: Config, log: { info(o: object, m: string): void }): Promise<void> {
  const tracing = startTracing(config, name);
  const subgraph = await startSubgraph(name, config);
  log.info({ url: subgraph.url }, `${name} subgraph ready`);
  // Spans still buffered are flushed after the service has stopped.
  exitOnSignal(() => subgraph.close().finally(() => tracing.shutdown()), log);
}
