import { contractError, ErrorCode } from './errors';

/** The verdict on one more hit of a limited action. */
export interface RateDecision {
  allowed: boolean;
  /** When refused: seconds until the oldest hit leaves the window. */
  retryAfterSeconds: number;
}

/** Counts hits per key in a sliding window; in-process here, Redis-backed where several instances share it. */
export interface RateLimiter {
  hit(key: string, limit: number, windowMs: number): Promise<RateDecision>;
}

/** A sliding-window limiter for one process. */
export function createMemoryRateLimiter(now: () => number = Date.now): RateLimiter {
  const hits = new Map<string, number[]>();
  return {
    async hit(key, limit, windowMs) {
      const at = now();
      const recent = (hits.get(key) ?? []).filter((t) => t > at - windowMs);
      if (recent.length >= limit) {
        hits.set(key, recent);
        return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((recent[0] + windowMs - at) / 1000)) };
      }
      recent.push(at);
      hits.set(key, recent);
      return { allowed: true, retryAfterSeconds: 0 };
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
  return {
    async hit(key, limit, windowMs) {
      const now = Date.now();
      sequence = (sequence + 1) % 1_000_000;
      const member = `${now}:${process.pid}:${sequence}:${Math.random().toString(36).slice(2, 8)}`;
      const [allowed, waitMs] = (await redis.eval(SLIDING_WINDOW, 1, `${prefix}${key}`, now, windowMs, limit, member)) as [number, number];
      return { allowed: allowed === 1, retryAfterSeconds: allowed === 1 ? 0 : Math.max(1, Math.ceil(waitMs / 1000)) };
    },
  };
}

/** A limiter that counts its refusals, labelled by what the key limits (the part before its first `:`). */
export function countingRefusals(limiter: RateLimiter, refusals: { inc(labels: { limit: string }): void }): RateLimiter {
  return {
    async hit(key, limit, windowMs) {
      const decision = await limiter.hit(key, limit, windowMs);
      if (!decision.allowed) refusals.inc({ limit: key.split(':')[0] ?? key });
      return decision;
    },
  };
}
