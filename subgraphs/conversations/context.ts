import type DataLoader from 'dataloader';
import type { Config } from '@chat/shared/config';
import { keyedLoader } from '@chat/shared/loaders';
import type { PeerClient } from '@chat/shared/peer-client';
import { requestContext, type SharedContext } from '@chat/shared/request-context';
import type { RequestIdentity } from '@chat/shared/subgraph';
import type { ConversationsRetention } from './lifecycle/retention-job';
import type { ConversationRow, ConversationsStore } from './store';

/** The subgraphs the conversations subgraph calls (operations in peers/<name>.graphql). */
export const PEERS = ['characters', 'messages', 'users'] as const;

/** Per-request context of the conversations subgraph. */
export interface Context extends RequestIdentity {
  store: ConversationsStore;
  /** Purges deleted conversations (the daily job's, and runRetention's). */
  retention: ConversationsRetention;
  config: Pick<Config, 'llm'>;
  /** Clients of the subgraphs in PEERS, called on the caller's behalf. */
  peers: Record<(typeof PEERS)[number], PeerClient>;
  loaders: { conversation: DataLoader<string, ConversationRow | null> };
}

/** A request's context: the shared parts, the caller, and DataLoaders of its own. */
export function createContext(shared: SharedContext<Context>, identity: RequestIdentity): Context {
  return requestContext<Context>(identity, shared, { conversation: keyedLoader((ids) => shared.store.byIds(ids), (row) => row.id) });
}
