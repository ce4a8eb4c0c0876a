/** Runs the messages subgraph alone on its own port (SUBGRAPH_PORT_BASE + its number, or MESSAGES_URL's port). */
import { loadConfig } from '@chat/shared/config';
import { createLogger } from '@chat/shared/log';
import { runSubgraphAlone } from '@chat/shared/process';
import { createMessagesSubgraph } from './index';

const config = loadConfig();
await runSubgraphAlone({ name: 'messages', create: createMessagesSubgraph }, config, createLogger(config, 'messages'));
