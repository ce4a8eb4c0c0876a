import type { Backplane } from '@chat/shared/backplane';
import type { Redis } from '@chat/shared/redis';

/** Who is watching a conversation, counted across every instance, and when its session began. */
export interface Presence {
  /** One more subscriber; the first one starts the session. */
  join(conversationId: string, at: Date): Promise<void>;
  /** One subscriber fewer; returns how many remain. */
  leave(conversationId: string): Promise<number>;
  /** Ends the session if nobody came back, exactly once across instances; returns its start, or null. */
  close(conversationId: string): Promise<Date | null>;
}

/** Presence of the backplane's kind: in Redis, or in this process. */
export function createPresence(backplane: Backplane): Presence {
  return backplane.kind === 'redis' ? createRedisPresence(backplane.redis, backplane.prefix) : createMemoryPresence();
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
