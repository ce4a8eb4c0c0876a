/** `npm start`: the four subgraphs and the gateway in one process, on embedded defaults unless configured. */
import { loadConfig } from '@chat/shared/config';
import { createLogger } from '@chat/shared/log';
import { exitOnSignal, startSystem } from '@chat/system';

const config = loadConfig();
const log = createLogger(config, 'system');
const system = await startSystem(config);
log.info(
  { storage: config.databaseUrl ? 'postgresql' : `pglite (${config.dataDir})`, pubsub: config.redisUrl ? 'redis' : 'in-process', llm: config.llm.provider },
  'character chat is running',
);
console.log(`\n  Gateway ready at ${system.gateway.url}\n`);
exitOnSignal(() => system.stop(), log);
