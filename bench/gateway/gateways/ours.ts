/**
 * This project's gateway, started as gateway/src/main.ts starts it (configuration from the
 * environment, logger, tracing, `startGateway`, stop on signal), only with the bench supergraph
 * instead of the committed one.
 * `tsx bench/gateway/gateways/ours.ts --port <n> --supergraph <file>`
 *
 * `BENCH_LEVERS_OFF=fetcher,dedupe,sharing` (any of them) switches levers of gateway/src/datasource.ts
 * off in this process, to measure what each buys (`run.ts --levers`): `fetcher`, @apollo/gateway's
 * default fetcher instead of ours (which also ends sharing); `dedupe`, every representation sent as
 * planned; `sharing`, no identical in-flight queries shared.
 */
import { readFileSync } from 'node:fs';
import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { startGateway } from '@chat/gateway';
import { loadConfig } from '@chat/shared/config';
import { createLogger } from '@chat/shared/log';
import { exitOnSignal } from '@chat/shared/process';
import { createServiceKeyring, generateServiceKeySet } from '@chat/shared/service-auth';
import { startTracing } from '@chat/shared/tracing';
import { SubgraphDataSource } from '../../../gateway/src/datasource';

/** The levers `BENCH_LEVERS_OFF` may name. */
export const LEVERS = ['fetcher', 'dedupe', 'sharing'] as const;

/** Replaces SubgraphDataSource's steps with @apollo/gateway's for each lever named. */
function switchOff(levers: ReadonlySet<string>): void {
  for (const lever of levers) if (!(LEVERS as readonly string[]).includes(lever)) throw new Error(`unknown lever "${lever}"`);
  type Options = GraphQLDataSourceProcessOptions<Record<string, unknown>>;
  const steps = SubgraphDataSource.prototype as unknown as { process(o: Options): Promise<unknown>; send(o: Options): Promise<unknown> };
  const plainProcess = RemoteGraphQLDataSource.prototype.process;
  const defaultFetcher = new RemoteGraphQLDataSource().fetcher;
  if (levers.has('dedupe')) {
    steps.process = function (options) {
      return this.send(options);
    };
  }
  if (levers.has('fetcher')) {
    steps.send = function (options) {
      return plainProcess.call(Object.create(this, { fetcher: { value: defaultFetcher } }), options);
    };
  } else if (levers.has('sharing')) {
    steps.send = function (options) {
      return plainProcess.call(this, options);
    };
  }
}

switchOff(new Set((process.env.BENCH_LEVERS_OFF ?? '').split(',').filter(Boolean)));

const argument = (name: string) => process.argv[process.argv.indexOf(`--${name}`) + 1];
const port = Number(argument('port'));
const supergraphSdl = readFileSync(argument('supergraph'), 'utf8');
const config = loadConfig();
const log = createLogger(config, 'gateway');
const tracing = startTracing(config, 'gateway');
// The benchmark's stand-in subgraphs check no service token: a key set of its own signs the fetches, as in production.
const gateway = await startGateway(config, createServiceKeyring(generateServiceKeySet()), { port, supergraphSdl });
log.info({ url: gateway.url }, 'gateway ready');
console.log(`ready ${gateway.port}`);
exitOnSignal(() => gateway.close().finally(() => tracing.shutdown()), log);
