import { readFileSync } from 'node:fs';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import type { Config } from '@chat/shared/config';
import { openDatabase } from '@chat/shared/db';
import type { SubgraphService } from '@chat/shared/subgraph';
import { createTelemetry } from '@chat/shared/telemetry';
import { CHARACTER_IMAGE_ROUTE } from '@chat/shared/images';
import { createContext, type Context } from './context';
import { imageRoute } from './images/route';
import { imageUrls, loadImageKey } from './images/urls';
import { resolvers } from './resolvers';
import { CharactersStore, migrations, type CharactersTables } from './store';

/** The characters subgraph's schema document. */
export const typeDefs = parse(readFileSync(new URL('./schema.graphql', import.meta.url), 'utf8'));

/** Opens the characters store and builds the subgraph. */
export async function createCharactersSubgraph(config: Config): Promise<SubgraphService<Context>> {
  const telemetry = createTelemetry(config, 'characters');
  const database = await openDatabase<CharactersTables>({ name: 'characters', config, migrations, telemetry });
  const store = new CharactersStore(database);
  const urls = imageUrls(config.images.publicUrl, loadImageKey(config));
  return {
    name: 'characters',
    schema: buildSubgraphSchema({ typeDefs, resolvers: resolvers as never }),
    stats: database.stats,
    telemetry,
    checks: { database: database.ping },
    routes: { [CHARACTER_IMAGE_ROUTE]: imageRoute(store.images, urls) },
    createContext: (identity) => createContext({ store, imageUrls: urls }, identity),
    close: () => database.close(),
  };
}
