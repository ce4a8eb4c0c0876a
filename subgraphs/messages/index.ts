import { readFileSync } from 'node:fs';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import type { Config } from '@chat/shared/config';
import { openDatabase } from '@chat/shared/db';
import { createGraphClient } from '@chat/shared/graph-client';
import { keyedLoader } from '@chat/shared/loaders';
import type { SubgraphService } from '@chat/shared/subgraph';
import { resolvers, type Context } from './resolvers';
import { MessagesStore, migrations, type MessagesTables } from './store';

/** The messages subgraph's schema document. */
export const typeDefs = parse(readFileSync(new URL('./schema.graphql', import.meta.url), 'utf8'));

/** Opens the messages store and builds the subgraph. */
export async function createMessagesSubgraph(config: Config): Promise<SubgraphService<Context>> {
  const database = await openDatabase<MessagesTables>({ name: 'messages', config, migrations });
  const store = new MessagesStore(database);
  const conversations = createGraphClient(config.subgraphUrls.conversations);
  const characters = createGraphClient(config.subgraphUrls.characters);
  return {
    name: 'messages',
    schema: buildSubgraphSchema({ typeDefs, resolvers: resolvers as never }),
    stats: database.stats,
    createContext: (identity) => ({
      ...identity,
      store,
      conversations,
      characters,
      loaders: {
        message: keyedLoader((ids) => store.byIds(ids), (row) => row.id),
        owner: keyedLoader((ids) => store.ownersOf(ids), (row) => row.conversation_id),
        lastMessage: keyedLoader((ids) => store.lastOf(ids), (row) => row.conversation_id),
        count: keyedLoader((ids) => store.countsOf(ids), (row) => row.conversation_id),
      },
    }),
    close: () => database.close(),
  };
}
