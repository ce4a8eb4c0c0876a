import type { MessageRow } from './store';

/** The kinds of event a conversation's subscribers receive (the contract's ConversationEventKind). */
export type ConversationEventKind = 'MESSAGE_CREATED' | 'REPLY_DELTA' | 'REPLY_COMPLETED' | 'REPLY_FAILED' | 'REPLY_CANCELLED';

/** Kinds that end a reply: exactly one of them closes every reply. */
export const TERMINAL_KINDS: ReadonlySet<ConversationEventKind> = new Set(['REPLY_COMPLETED', 'REPLY_FAILED', 'REPLY_CANCELLED']);

/** One event of a conversation, as published and as the subscription resolves it. */
export interface ConversationEvent {
  kind: ConversationEventKind;
  messageId: string;
  delta?: string | null;
  sequence?: number | null;
  message?: MessageRow | null;
  error?: string | null;
}

/** Publishes a conversation's events to its subscribers, wherever they are connected. */
export interface EventBus {
  publish(conversationId: string, event: ConversationEvent): Promise<void>;
  /** Calls `listener` for each event of the conversation until the returned function is called. */
  listen(conversationId: string, listener: (event: ConversationEvent) => void): Promise<() => void>;
  close(): Promise<void>;
}

/** An in-process bus: every subscriber lives in this process (no REDIS_URL). */
export function createMemoryEventBus(): EventBus {
  const listeners = new Map<string, Set<(event: ConversationEvent) => void>>();
  return {
    async publish(conversationId, event) {
      for (const listener of listeners.get(conversationId) ?? []) listener(event);
    },
    async listen(conversationId, listener) {
      const set = listeners.get(conversationId) ?? new Set();
      set.add(listener);
      listeners.set(conversationId, set);
      return () => {
        set.delete(listener);
        if (set.size === 0) listeners.delete(conversationId);
      };
    },
    async close() {
      listeners.clear();
    },
  };
}
