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
