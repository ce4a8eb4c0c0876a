/**
 * The in-process sliding-window limiter: its verdicts, and that it forgets keys whose window has
 * passed; attempts against several limits, and how their refusals are counted.
 */
import { describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { countingRefusals, createMemoryRateLimiter, createRedisRateLimiter, MEMORY_LIMITER_SWEEP_MS, type RateLimiter } from './rate-limit';

const WINDOW_MS = 5 * 60_000;

/** A clock the test moves by hand. */
function manualClock(start = 1_000_000) {
  let at = start;
  return { now: () => at, advance: (ms: number) => void (at += ms) };
}

describe('createMemoryRateLimiter', () => {
  it('allows `limit` hits in the window, then refuses with the wait until the oldest leaves it', async () => {
    const clock = manualClock();
    const limiter = createMemoryRateLimiter(clock.now);
    for (let i = 0; i < 3; i += 1) expect(await limiter.hit('k', 3, WINDOW_MS)).toEqual({ allowed: true, retryAfterSeconds: 0 });
    clock.advance(60_000);
    expect(await limiter.hit('k', 3, WINDOW_MS)).toEqual({ allowed: false, retryAfterSeconds: 240 });
    clock.advance(240_000);
    expect((await limiter.hit('k', 3, WINDOW_MS)).allowed).toBe(true);
  });

  it('drops keys whose window has passed, so many one-off keys (addresses, emails) do not pile up', async () => {
    const clock = manualClock();
    const limiter = createMemoryRateLimiter(clock.now);
    for (let i = 0; i < 1_000; i += 1) await limiter.hit(`login:address:198.51.100.${i}`, 5, WINDOW_MS);
    // A key with a longer window, still within it at the sweep: kept.
    await limiter.hit('register:address:203.0.113.1', 5, 60 * 60_000);
    expect(limiter.size).toBe(1_001);

    clock.advance(Math.max(WINDOW_MS, MEMORY_LIMITER_SWEEP_MS));
    await limiter.hit('login:address:192.0.2.1', 5, WINDOW_MS);
    expect(limiter.size).toBe(2);

    // The kept key still counts its hit.
    for (let i = 0; i < 4; i += 1) expect((await limiter.hit('register:address:203.0.113.1', 5, 60 * 60_000)).allowed).toBe(true);
    expect((await limiter.hit('register:address:203.0.113.1', 5, 60 * 60_000)).allowed).toBe(false);
  });

  it('does not forget a key that is still within its window at a sweep', async () => {
    const clock = manualClock();
    const limiter = createMemoryRateLimiter(clock.now);
    for (let i = 0; i < 2; i += 1) await limiter.hit('k', 2, WINDOW_MS);
    clock.advance(MEMORY_LIMITER_SWEEP_MS);
    await limiter.hit('other', 2, WINDOW_MS);
    expect(limiter.size).toBe(2);
    expect((await limiter.hit('k', 2, WINDOW_MS)).allowed).toBe(false);
  });
});

describe('attempts against several limits', () => {
  it('count against every limit, and are refused with the longest wait when any is over', async () => {
    const clock = manualClock();
    const limiter = createMemoryRateLimiter(clock.now);
    const limits = [['a', 2, WINDOW_MS], ['b', 3, WINDOW_MS]] as const;
    await limiter.hit('b', 3, WINDOW_MS);
    clock.advance(60_000);
    expect(await limiter.attempt(limits)).toEqual({ allowed: true, retryAfterSeconds: 0 });
    expect(await limiter.attempt(limits)).toEqual({ allowed: true, retryAfterSeconds: 0 });
    // 'a' holds two hits, 'b' three (its oldest a minute older): both refuse, and the later end is the wait.
    expect(await limiter.attempt(limits)).toEqual({ allowed: false, retryAfterSeconds: 300 });
    expect((await limiter.hit('b', 3, WINDOW_MS)).allowed).toBe(false);
  });

  it('count one refusal per refused attempt, however many of its limits are over', async () => {
    const counted: string[] = [];
    const limiter = countingRefusals(createMemoryRateLimiter(), { inc: ({ limit }) => void counted.push(limit) });
    const limits = [['login:pair:x', 1, WINDOW_MS], ['login:account:y', 1, WINDOW_MS], ['login:address:z', 5, WINDOW_MS]] as const;
    expect((await limiter.attempt(limits)).allowed).toBe(true);
    expect((await limiter.attempt(limits)).allowed).toBe(false);
    expect(counted).toEqual(['login']);
    // A single hit refused counts once too.
    expect((await limiter.hit('register:address:z', 1, WINDOW_MS)).allowed).toBe(true);
    expect((await limiter.hit('register:address:z', 1, WINDOW_MS)).allowed).toBe(false);
    expect(counted).toEqual(['login', 'register']);
  });
});

describe('forget (an erased account\'s keys)', () => {
  /** Each limiter forgets the keys its patterns match (`*` any text, the rest literal) and nothing else. */
  async function forgetsOnly(limiter: RateLimiter, prefix: string) {
    const keys = [`login:pair:1.2.3.4:${prefix}a.b@x.io`, `login:pair:5.6.7.8:${prefix}a.b@x.io`, `login:account:${prefix}a.b@x.io`, `login:account:${prefix}aXb@x.io`, `messages:${prefix}u1`];
    for (const key of keys) expect((await limiter.hit(key, 1, WINDOW_MS)).allowed).toBe(true);
    await limiter.forget([`login:pair:*:${prefix}a.b@x.io`, `login:account:${prefix}a.b@x.io`]);
    const allowedAgain = await Promise.all(keys.map(async (key) => (await limiter.hit(key, 1, WINDOW_MS)).allowed));
    // The three keys naming a.b@x.io were forgotten; aXb@x.io (a '.' is literal) and another user's key were not.
    expect(allowedAgain).toEqual([true, true, true, false, false]);
  }

  it('in process', () => forgetsOnly(createMemoryRateLimiter(), ''));

  it('on Redis', async () => {
    const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    const prefix = `forget-test-${process.pid}-${Date.now()}:`;
    try {
      await forgetsOnly(createRedisRateLimiter(redis, prefix), '');
    } finally {
      const left = await redis.keys(`${prefix}*`);
      if (left.length > 0) await redis.del(...left);
      await redis.quit();
    }
  });
});
