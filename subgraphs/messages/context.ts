import DataLoader from 'dataloader';
import type { AuditLog } from '@chat/shared/audit';
import type { Config } from '@chat/shared/config';
import { groupedLoader, keyedLoader } from '@chat/shared/loaders';
import type { Logger } from '@chat/shared/log';
import type { PeerClient } from '@chat/shared/peer-client';
import type { RateLimiter } from '@chat/shared/rate-limit';
import { requestContext, type SharedContext } from '@chat/shared/request-context';
import type { RequestIdentity } from '@chat/shared/subgraph';
import type { ConversationStats } from './analytics/store';
import type { KeyedSerializer } from './chat/serial';
import type { ReplyGenerator } from './generation/generator';
import type { LlmCatalogue } from './llm/catalogue';
import type { MessagesRetention } from './lifecycle/retention';
import type { EventBus } from './realtime/events';
import type { SessionTracker } from './realtime/sessions';
import type { ReplyLifecycle } from './replies/lifecycle';
import type { CreditSettler } from './replies/settlements';
import { siblingKey, type ConversationOwnerRow, type MessageRow, type MessagesStore, type SiblingKey } from './store';

/** The subgraphs the messages subgraph calls (operations in peers/<name>.graphql). */
export const PEERS = ['conversations', 'characters', 'users'] as const;

/** Per-request context of the messages subgraph. */
export interface Context extends RequestIdentity {
  store: MessagesStore;
  /** Clients of the subgraphs in PEERS, called on the caller's behalf. */
  peers: Record<(typeof PEERS)[number], PeerClient>;
  bus: EventBus;
  /** Every change of a reply's state goes through it. */
  replies: ReplyLifecycle;
  /** Drains what ended replies owe to the users subgraph. */
  settler: CreditSettler;
  generator: ReplyGenerator;
  /** The providers, their models and prices. */
  catalogue: LlmCatalogue;
  /** One write that holds credits at a time per conversation on this instance (chat/serial.ts). */
  writes: KeyedSerializer;
  sessions: SessionTracker;
  /** Purges what retention says is due (the daily job's, and runRetention's). */
  retention: MessagesRetention;
  rateLimiter: RateLimiter;
  config: Pick<Config, 'rateLimitMessagesPerMinute' | 'llm'>;
  log: Logger;
  /** Admin actions, logged and counted. */
  audit: AuditLog;
  loaders: {
    message: DataLoader<string, MessageRow | null>;
    owner: DataLoader<string, ConversationOwnerRow | null>;
    lastMessage: DataLoader<string, MessageRow | null>;
    count: DataLoader<string, { conversation_id: string; count: number } | null>;
    /** Every message under a parent (or a conversation's first messages), oldest first. */
    alternatives: DataLoader<SiblingKey, MessageRow[]>;
    /** Conversation.stats, batched (analytics/store.ts). */
    stats: DataLoader<string, ConversationStats | null>;
    /** An admin reading another user's conversation, audited once per conversation per request (access.ts). */
    adminReads: DataLoader<string, true>;
  };
}

/** A request's context: the shared parts, the caller, and DataLoaders of its own. */
export function createContext(shared: SharedContext<Context>, identity: RequestIdentity): Context {
  const { store } = shared;
  return requestContext<Context>(identity, shared, {
    message: keyedLoader((ids) => store.byIds(ids), (row) => row.id),
    owner: keyedLoader((ids) => store.ownersOf(ids), (row) => row.conversation_id),
    lastMessage: keyedLoader((ids) => store.lastOf(ids), (row) => row.conversation_id),
    count: keyedLoader((ids) => store.countsOf(ids), (row) => row.conversation_id),
    alternatives: groupedLoader((keys) => store.tree.siblings(keys), siblingKey),
    stats: keyedLoader((ids) => store.analytics.stats(ids), (row) => row.conversationId),
    adminReads: new DataLoader(async (ids: readonly string[]) =>
      ids.map((id) => {
        shared.audit.record({ admin: identity.viewer?.id ?? '', action: 'readConversation', target: id });
        return true as const;
      }),
    ),
  });
}
