/** Runs the characters subgraph alone on its own port (SUBGRAPH_PORT_BASE + its number, or CHARACTERS_URL's port). */
import { loadConfig } from '@chat/shared/config';
import { createLogger } from '@chat/shared/log';
import { runSubgraphAlone } from '@chat/shared/process';
import { createCharactersSubgraph } from './index';

const config = loadConfig();
await runSubgraphAlone({ name: 'characters', create: createCharactersSubgraph }, config, createLogger(config, 'characters'));
