/** Runs the gateway alone, against subgraphs at SUBGRAPH_PORT_BASE+1..4 or <NAME>_URL. */
import { loadConfig } from '@chat/shared/config';
import { createLogger } from '@chat/shared/log';
import { exitOnSignal } from '@chat/shared/process';
import { loadServiceKeyring } from '@chat/shared/service-auth';
import { startTracing } from '@chat/shared/tracing';
import { startGateway } from './gateway';

const config = loadConfig();
const log = createLogger(config, 'gateway');
const tracing = startTracing(config, 'gateway');
// The gateway's own key (SERVICE_PRIVATE_KEYS; generated under DATA_DIR in development) signs its calls to the subgraphs.
const gateway = await startGateway(config, loadServiceKeyring(config));
log.info({ url: gateway.url }, 'gateway ready');
exitOnSignal(() => gateway.close().finally(() => tracing.shutdown()), log);
