import { contractError, ErrorCode } from './errors';

/** The verdict on one more hit of a limited action. */
export interface RateDecision {
  allowed: boolean;
  /** When refused: seconds until the oldest hit leaves the window. */
  retryAfterSeconds: number;
}

/** One limit an attempt counts against: its key, the hits it allows, and the window they are counted over (ms). */
export type RateLimit = readonly [key: string, limit: number, windowMs: number];

/** Counts hits per key in a sliding window; in-process here, Redis-backed where several instances share it. */
export interface RateLimiter {
  hit(key: string, limit: number, windowMs: number): Promise<RateDecision>;
  /**
   * One attempt at something limited several ways (a sign-in: per address, per account…): every
   * limit counts it, and it is refused, with the longest wait, when any of them is over.
   */
  attempt(limits: readonly RateLimit[]): Promise<RateDecision>;
  /**
   * Drops the counts of the keys matching each pattern (`*` matches any text, everything else is
   * literal): an erased account's keys name its id or email, and must not outlive it.
   */
  forget(patterns: readonly string[]): Promise<void>;
}

/** A forget pattern as a RegExp over whole keys (`*` any text; all else literal). */
function patternRegExp(pattern: string): RegExp {
  return new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's');
}

/** A forget pattern for Redis SCAN MATCH: `*` stays a wildcard, Redis's other glob characters are escaped. */
function redisPattern(pattern: string): string {
  return pattern.split('*').map((part) => part.replace(/[?[\]\\*]/g, '\\$&')).join('*');
}

const ALLOWED: RateDecision = { allowed: true, retryAfterSeconds: 0 };

/** A limiter's `attempt`, made of its `hit`s. */
function attemptEach(hit: RateLimiter['hit']): RateLimiter['attempt'] {
  return async (limits) => {
    const decisions = await Promise.all(limits.map(([key, limit, windowMs]) => hit(key, limit, windowMs)));
    return decisions.filter((d) => !d.allowed).sort((a, b) => b.retryAfterSeconds - a.retryAfterSeconds)[0] ?? ALLOWED;
  };
}

/** How often the in-memory limiter drops the keys whose window has passed (ms). */
export const MEMORY_LIMITER_SWEEP_MS = 60_000;

/** The in-memory limiter, with the number of keys it holds (bounded: keys whose window has passed are dropped). */
export interface MemoryRateLimiter extends RateLimiter {
  readonly size: number;
}

/** One key's recent hits (oldest first) and the window they were counted over. */
interface Window {
  hits: number[];
  windowMs: number;
}

/**
 * A sliding-window limiter for one process. Keys come from clients (addresses, emails), so a key
 * whose last hit has left its window is forgotten: at most once per MEMORY_LIMITER_SWEEP_MS a
 * hit sweeps them all, which keeps memory to the keys seen within their windows.
 */
export function createMemoryRateLimiter(now: () => number = Date.now): MemoryRateLimiter {
  const windows = new Map<string, Window>();
  let lastSweep = now();
  const sweep = (at: number) => {
    lastSweep = at;
    for (const [key, { hits, windowMs }] of windows) {
      if ((hits.at(-1) ?? -Infinity) <= at - windowMs) windows.delete(key);
    }
  };
  const hit: RateLimiter['hit'] = async (key, limit, windowMs) => {
    const at = now();
    if (at - lastSweep >= MEMORY_LIMITER_SWEEP_MS) sweep(at);
    const hits = (windows.get(key)?.hits ?? []).filter((t) => t > at - windowMs);
    windows.set(key, { hits, windowMs });
    if (hits.length >= limit) return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((hits[0] + windowMs - at) / 1000)) };
    hits.push(at);
    return ALLOWED;
  };
  return {
    get size() {
      return windows.size;
    },
    hit,
    attempt: attemptEach(hit),
    async forget(patterns) {
      const matchers = patterns.map(patternRegExp);
      for (const key of windows.keys()) if (matchers.some((m) => m.test(key))) windows.delete(key);
    },
  };
}

/** RATE_LIMITED with the contract's retryAfterSeconds. */
export function rateLimited(decision: RateDecision, what: string) {
  return contractError(ErrorCode.RATE_LIMITED, `Too many ${what}; try again in ${decision.retryAfterSeconds} s.`, {
    retryAfterSeconds: decision.retryAfterSeconds,
  });
}

// Sliding window in one sorted set per key, atomically: drop old hits, count, add, expire.
const SLIDING_WINDOW = `
local key, now, window, limit, member = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count >= limit then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return { 0, tonumber(oldest[2]) + window - now }
end
redis.call('ZADD', key, now, member)
redis.call('PEXPIRE', key, window)
return { 1, 0 }`;

/** A sliding-window limiter shared by every instance through Redis. */
export function createRedisRateLimiter(redis: import('ioredis').Redis, prefix = 'ratelimit:'): RateLimiter {
  let sequence = 0;
  const hit: RateLimiter['hit'] = async (key, limit, windowMs) => {
    const now = Date.now();
    sequence = (sequence + 1) % 1_000_000;
    const member = `${now}:${process.pid}:${sequence}:${Math.random().toString(36).slice(2, 8)}`;
    const [allowed, waitMs] = (await redis.eval(SLIDING_WINDOW, 1, `${prefix}${key}`, now, windowMs, limit, member)) as [number, number];
    return { allowed: allowed === 1, retryAfterSeconds: allowed === 1 ? 0 : Math.max(1, Math.ceil(waitMs / 1000)) };
  };
  const forget: RateLimiter['forget'] = async (patterns) => {
    for (const pattern of patterns) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${redisPattern(prefix)}${redisPattern(pattern)}`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== '0');
    }
  };
  return { hit, attempt: attemptEach(hit), forget };
}

/**
 * A limiter that counts its refusals, labelled by what the key limits (the part before its first
 * `:`; an attempt's first limit's). A refused attempt counts once, however many of its limits are over.
 */
export function countingRefusals(limiter: RateLimiter, refusals: { inc(labels: { limit: string }): void }): RateLimiter {
  const counted = (key: string | undefined, decision: RateDecision): RateDecision => {
    if (!decision.allowed && key !== undefined) refusals.inc({ limit: key.split(':')[0] ?? key });
    return decision;
  };
  return {
    hit: async (key, limit, windowMs) => counted(key, await limiter.hit(key, limit, windowMs)),
    attempt: async (limits) => counted(limits[0]?.[0], await limiter.attempt(limits)),
    forget: (patterns) => limiter.forget(patterns),
  };
}
