import type DataLoader from 'dataloader';
import { keyedLoader } from '@chat/shared/loaders';
import { requestContext, type SharedContext } from '@chat/shared/request-context';
import type { RequestIdentity } from '@chat/shared/subgraph';
import type { CharacterRow, CharactersStore } from './store';

/** Per-request context of the characters subgraph. */
export interface Context extends RequestIdentity {
  store: CharactersStore;
  loaders: {
    character: DataLoader<string, CharacterRow | null>;
    /** The character's id when the viewer talks with it (see `mayView`), else null; always null for anonymous callers. */
    audience: DataLoader<string, string | null>;
  };
}

/** A request's context: the shared parts, the caller, and DataLoaders of its own. */
export function createContext(shared: SharedContext<Context>, identity: RequestIdentity): Context {
  const { store } = shared;
  return requestContext<Context>(identity, shared, {
    character: keyedLoader((ids) => store.byIds(ids), (row) => row.id),
    audience: keyedLoader((ids) => (identity.viewer ? store.audienceOf(identity.viewer.id, ids) : Promise.resolve([])), (id) => id),
  });
}
