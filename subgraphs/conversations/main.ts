/** Runs the conversations subgraph alone on its own port (SUBGRAPH_PORT_BASE + its number, or CONVERSATIONS_URL's port). */
import { loadConfig } from '@chat/shared/config';
import { createLogger } from '@chat/shared/log';
import { runSubgraphAlone } from '@chat/shared/process';
import { createConversationsSubgraph } from './index';

const config = loadConfig();
await runSubgraphAlone({ name: 'conversations', create: createConversationsSubgraph }, config, createLogger(config, 'conversations'));
