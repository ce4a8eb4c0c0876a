import { readFileSync } from 'node:fs';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import type { Config } from '@chat/shared/config';
import { openDatabase } from '@chat/shared/db';
import { keyedLoader } from '@chat/shared/loaders';
import type { SubgraphService } from '@chat/shared/subgraph';
import { resolvers, type Context } from './resolvers';
import { CharactersStore, migrations, type CharactersTables } from './store';

/** The characters subgraph's schema document. */
export const typeDefs = parse(readFileSync(new URL('./schema.graphql', import.meta.url), 'utf8'));

/** Opens the characters store and builds the subgraph. */
export async function createCharactersSubgraph(config: Config): Promise<SubgraphService<Context>> {
  const database = await openDatabase<CharactersTables>({ name: 'characters', config, migrations });
  const store = new CharactersStore(database);
  return {
    name: 'characters',
    schema: buildSubgraphSchema({ typeDefs, resolvers: resolvers as never }),
    stats: database.stats,
    createContext: (identity) => ({
      ...identity,
      store,
      loaders: { character: keyedLoader((ids) => store.byIds(ids), (row) => row.id) },
    }),
    close: () => database.close(),
  };
}
