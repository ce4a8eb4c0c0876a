/** Runs the users subgraph alone on its own port (SUBGRAPH_PORT_BASE + its number, or USERS_URL's port), verifying tokens with its own keys. */
import { loadConfig } from '@chat/shared/config';
import { createLogger } from '@chat/shared/log';
import { runSubgraphAlone } from '@chat/shared/process';
import { createUsersSubgraph } from './index';

const config = loadConfig();
await runSubgraphAlone({ name: 'users', create: createUsersSubgraph, ownKeys: (users) => users.keys.getKey }, config, createLogger(config, 'users'));
