/** `npm start`: the four subgraphs and the gateway in one process, on embedded defaults unless configured. */
import { loadConfig } from '@chat/shared/config';
import { createLogger } from '@chat/shared/log';
import { exitOnSignal } from '@chat/shared/process';
import { startTracing } from '@chat/shared/tracing';
import { startSystem } from '@chat/system';

const config = loadConfig();
const log = createLogger(config, 'system');
// One process, one tracer provider: each service's spans carry its own instrumentation scope.
const tracing = startTracing(config, 'character-chat');
const system = await startSystem(config);
log.info(
  {
    storage: config.databaseUrl ? 'postgresql' : `pglite (${config.dataDir})`,
    pubsub: config.redisUrl ? 'redis' : 'in-process',
    llm: config.llm.providers.map((p) => p.id).join(','),
    tracing: config.tracing.otlpEndpoint ?? 'not exported (set OTEL_EXPORTER_OTLP_ENDPOINT)',
  },
  'character chat is running',
);
console.log(`\n  Gateway ready at ${system.gateway.url}\n`);
exitOnSignal(() => system.stop().finally(() => tracing.shutdown()), log);
