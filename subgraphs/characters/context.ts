import type DataLoader from 'dataloader';
import { keyedLoader } from '@chat/shared/loaders';
import { requestContext, type SharedContext } from '@chat/shared/request-context';
import type { RequestIdentity } from '@chat/shared/subgraph';
import type { ImageUrls } from './images/urls';
import type { CharacterRow, CharactersStore, LorebookRow } from './store';

/** Per-request context of the characters subgraph. */
export interface Context extends RequestIdentity {
  store: CharactersStore;
  /** Where characters' images are served, signed for those who may see a private one. */
  imageUrls: ImageUrls;
  loaders: {
    character: DataLoader<string, CharacterRow | null>;
    /** The character's id when the viewer talks with it (see `mayView`), else null; always null for anonymous callers. */
    audience: DataLoader<string, string | null>;
    lorebook: DataLoader<string, LorebookRow | null>;
    /** A character's live embedded lorebook, by the character's id. */
    characterLorebook: DataLoader<string, LorebookRow | null>;
  };
}

/** A request's context: the shared parts, the caller, and DataLoaders of its own. */
export function createContext(shared: SharedContext<Context>, identity: RequestIdentity): Context {
  const { store } = shared;
  return requestContext<Context>(identity, shared, {
    character: keyedLoader((ids) => store.byIds(ids), (row) => row.id),
    audience: keyedLoader((ids) => (identity.viewer ? store.audienceOf(identity.viewer.id, ids) : Promise.resolve([])), (id) => id),
    lorebook: keyedLoader((ids) => store.lorebooks.byIds(ids), (row) => row.id),
    characterLorebook: keyedLoader((ids) => store.lorebooks.ofCharacters(ids), (row) => row.character_id!),
  });
}
