/** Runs the conversations subgraph alone on its own port (SUBGRAPH_PORT_BASE + its number, or CONVERSATIONS_URL's port). */
import { loadConfig } from '@chat/shared/config';
import { createLogger } from '@chat/shared/log';
import { runSubgraphAlone } from '@chat/system';

const config = loadConfig();
await runSubgraphAlone('conversations', config, createLogger(config, 'conversations'));
