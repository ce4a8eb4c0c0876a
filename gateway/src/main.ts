/** Runs the gateway alone, against subgraphs at SUBGRAPH_PORT_BASE+1..4 or <NAME>_URL. */
import { loadConfig } from '@chat/shared/config';
import { createLogger } from '@chat/shared/log';
import { startGateway } from './gateway';

const config = loadConfig();
const log = createLogger(config, 'gateway');
const gateway = await startGateway(config);
log.info({ url: gateway.url }, 'gateway ready');
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void gateway.close().then(() => process.exit(0)));
}
