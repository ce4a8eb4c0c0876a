import { readFileSync } from 'node:fs';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import type { Config } from '@chat/shared/config';
import { openDatabase } from '@chat/shared/db';
import { createPeerClients } from '@chat/shared/peer-client';
import type { ServiceSigner } from '@chat/shared/service-auth';
import type { SubgraphService } from '@chat/shared/subgraph';
import { DailyJob } from '@chat/shared/retention';
import { createTelemetry } from '@chat/shared/telemetry';
import { createContext, PEERS, type Context } from './context';
import { resolvers } from './resolvers';
import { ConversationsRetention } from './lifecycle/retention-job';
import { ConversationsStore, migrations, type ConversationsTables } from './store';

/** The conversations subgraph's schema document. */
export const typeDefs = parse(readFileSync(new URL('./schema.graphql', import.meta.url), 'utf8'));

/** Opens the conversations store and builds the subgraph; its calls to peers are signed with `signer`. */
export async function createConversationsSubgraph(config: Config, signer: ServiceSigner): Promise<SubgraphService<Context>> {
  const telemetry = createTelemetry(config, 'conversations');
  const database = await openDatabase<ConversationsTables>({ name: 'conversations', config, migrations, telemetry });
  const store = new ConversationsStore(database);
  const peers = createPeerClients(config.subgraphUrls, PEERS, signer);
  // Deleted conversations past their period go daily, one instance at a time.
  const retention = new ConversationsRetention(database, config.retention);
  const purging = new DailyJob('conversations retention', () => retention.run(new Date(), false), telemetry.log);
  purging.start();
  return {
    name: 'conversations',
    schema: buildSubgraphSchema({ typeDefs, resolvers: resolvers as never }),
    stats: database.stats,
    telemetry,
    checks: { database: database.ping },
    createContext: (identity) => createContext({ store, retention, config, peers }, identity),
    close: async () => {
      await purging.stop();
      await database.close();
    },
  };
}
