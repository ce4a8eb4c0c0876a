import type { GraphClient } from '@chat/shared/graph-client';
import type { Logger } from '@chat/shared/log';
import type { Redis } from '@chat/shared/redis';
import type { MessagesStore } from './store';

/** Who is watching a conversation, counted across every instance, and when its session began. */
export interface Presence {
  /** One more subscriber; the first one starts the session. */
  join(conversationId: string, at: Date): Promise<void>;
  /** One subscriber fewer; returns how many remain. */
  leave(conversationId: string): Promise<number>;
  /** Ends the session if nobody came back, exactly once across instances; returns its start, or null. */
  close(conversationId: string): Promise<Date | null>;
}

/** Presence for one process. */
export function createMemoryPresence(): Presence {
  const watchers = new Map<string, number>();
  const started = new Map<string, Date>();
  return {
    async join(id, at) {
      watchers.set(id, (watchers.get(id) ?? 0) + 1);
      if (!started.has(id)) started.set(id, at);
    },
    async leave(id) {
      const left = Math.max(0, (watchers.get(id) ?? 1) - 1);
      if (left === 0) watchers.delete(id);
      else watchers.set(id, left);
      return left;
    },
    async close(id) {
      if (watchers.get(id)) return null;
      const start = started.get(id) ?? null;
      started.delete(id);
      return start;
    },
  };
}

// Ends the session only when nobody is watching, and hands its start to exactly one caller.
const CLOSE_SESSION = `
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then return false end
local start = redis.call('GET', KEYS[2])
if start then redis.call('DEL', KEYS[2]) end
return start`;

/** Presence in Redis, shared by every messages instance. */
export function createRedisPresence(redis: Redis, prefix: string): Presence {
  const watchers = (id: string) => `${prefix}presence:${id}`;
  const start = (id: string) => `${prefix}session-start:${id}`;
  return {
    async join(id, at) {
      await redis.multi().incr(watchers(id)).set(start(id), at.toISOString(), 'NX').exec();
    },
    async leave(id) {
      const left = await redis.decr(watchers(id));
      if (left <= 0) await redis.del(watchers(id));
      return Math.max(0, left);
    },
    async close(id) {
      const at = (await redis.eval(CLOSE_SESSION, 2, watchers(id), start(id))) as string | null;
      return at ? new Date(at) : null;
    },
  };
}

const RECORD_SESSION = /* GraphQL */ `mutation RecordSession($input: SessionRecordInput!) { recordSession(input: $input) }`;

/**
 * Chat sessions: a conversation is in session while someone subscribes to it; when the last
 * subscriber has been gone for the grace period, the session closes and the conversation's
 * statistics are brought up to date in the conversations subgraph.
 */
export class SessionTracker {
  private readonly timers = new Set<NodeJS.Timeout>();
  private subscribers = 0;

  constructor(
    private readonly deps: { presence: Presence; store: MessagesStore; conversations: GraphClient; log: Logger; graceMs: number },
  ) {}

  /** A subscriber arrived. */
  join(conversationId: string): Promise<void> {
    this.subscribers += 1;
    return this.deps.presence.join(conversationId, new Date());
  }

  /** Subscriptions to conversation events open on this instance. */
  openSubscriptions(): number {
    return this.subscribers;
  }

  /** A subscriber left; `authorization` is theirs, used to report the session if it closes. */
  async leave(conversationId: string, authorization: string | undefined): Promise<void> {
    this.subscribers = Math.max(0, this.subscribers - 1);
    if ((await this.deps.presence.leave(conversationId)) > 0) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.close(conversationId, authorization).catch((err) => this.deps.log.warn({ err, conversationId }, 'closing a chat session failed'));
    }, this.deps.graceMs);
    timer.unref();
    this.timers.add(timer);
  }

  /** Stops waiting on sessions (at shutdown; another instance or the next session reports them). */
  stop(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private async close(conversationId: string, authorization: string | undefined): Promise<void> {
    const startedAt = await this.deps.presence.close(conversationId);
    if (!startedAt) return;
    const totals = await this.deps.store.totals(conversationId);
    await this.deps.conversations.request(
      RECORD_SESSION,
      { input: { conversationId, startedAt: startedAt.toISOString(), endedAt: new Date().toISOString(), ...totals } },
      { authorization },
    );
  }
}
