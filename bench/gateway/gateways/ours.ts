/**
 * This project's gateway, started as gateway/src/main.ts starts it (configuration from the
 * environment, logger, tracing, `startGateway`, stop on signal), only with the bench supergraph
 * instead of the committed one.
 * `tsx bench/gateway/gateways/ours.ts --port <n> --supergraph <file>`
 */
import { readFileSync } from 'node:fs';
import { startGateway } from '@chat/gateway';
import { loadConfig } from '@chat/shared/config';
import { createLogger } from '@chat/shared/log';
import { startTracing } from '@chat/shared/tracing';
import { exitOnSignal } from '@chat/system';

const argument = (name: string) => process.argv[process.argv.indexOf(`--${name}`) + 1];
const port = Number(argument('port'));
const supergraphSdl = readFileSync(argument('supergraph'), 'utf8');
const config = loadConfig();
const log = createLogger(config, 'gateway');
const tracing = startTracing(config, 'gateway');
const gateway = await startGateway(config, { port, supergraphSdl });
log.info({ url: gateway.url }, 'gateway ready');
console.log(`ready ${gateway.port}`);
exitOnSignal(() => gateway.close().finally(() => tracing.shutdown()), log);
