/**
 * What a service shares with its other instances: in this process (no REDIS_URL, one process
 * only) or through Redis. The choice is made here, once; services build their own shared
 * structures (event buses, queues) from the backplane they are given.
 */
import type { Config } from './config';
import type { Check } from './health';
import { countingRefusals, createMemoryRateLimiter, createRedisRateLimiter, type RateLimiter } from './rate-limit';
import { connectRedis, redisReady, type Redis } from './redis';

/** Where rate-limit windows live, after the deployment's key prefix. */
export const RATE_LIMIT_KEY_PREFIX = 'ratelimit:';

/** What both kinds of backplane give a service. */
interface BackplaneBase {
  /** Rate limits counted across every instance (Redis) or in this process. */
  rateLimiter: RateLimiter;
  /** What must answer for the service to be ready (/ready). */
  checks: Record<string, Check>;
  /** Closes its connections (none in process). */
  close(): Promise<void>;
}

/** Everything lives in this process: the deployment runs one process. */
export interface MemoryBackplane extends BackplaneBase {
  kind: 'memory';
}

/** Shared through Redis: `redis` for commands, and one connection of its own for each role asked for. */
export interface RedisBackplane<Role extends string = never> extends BackplaneBase {
  kind: 'redis';
  redis: Redis;
  /** Connections that block or subscribe (a subscriber, a blocking stream reader) and so cannot share `redis`. */
  connections: Record<Role, Redis>;
  /** Prefix of every key and channel (the deployment's REDIS_KEY_PREFIX). */
  prefix: string;
}

/** A service's backplane; `Role` names the dedicated Redis connections it asked for. */
export type Backplane<Role extends string = never> = MemoryBackplane | RedisBackplane<Role>;

/** How a service's backplane is built. */
export interface BackplaneOptions<Role extends string> {
  /** Counts the rate limiter's refusals (the service's metric). */
  refusals: { inc(labels: { limit: string }): void };
  /** Dedicated connections the service needs with Redis, each named `<service>-<role>`. */
  roles?: readonly Role[];
}

/**
 * Redis when the configuration names one (every connection ready before this resolves, so start-up
 * fails clearly when it is unreachable), else this process.
 */
export async function createBackplane<Role extends string = never>(
  config: Pick<Config, 'redisUrl' | 'redisPrefix'>,
  serviceName: string,
  options: BackplaneOptions<Role>,
): Promise<Backplane<Role>> {
  if (!config.redisUrl) {
    return { kind: 'memory', rateLimiter: countingRefusals(createMemoryRateLimiter(), options.refusals), checks: {}, close: async () => undefined };
  }
  const redisUrl = config.redisUrl;
  const redis = connectRedis(redisUrl, serviceName);
  const connections = Object.fromEntries((options.roles ?? []).map((role) => [role, connectRedis(redisUrl, `${serviceName}-${role}`)])) as Record<Role, Redis>;
  const all = [redis, ...Object.values<Redis>(connections)];
  // A start that fails here closes every connection: one left reconnecting would keep the process alive.
  await Promise.all(all.map((connection) => redisReady(connection))).catch((error: unknown) => {
    for (const connection of all) connection.disconnect();
    throw error;
  });
  // Closed once, however often asked: quitting a closed connection leaves ioredis a 2 s timer that keeps the process up.
  let closing: Promise<void> | undefined;
  return {
    kind: 'redis',
    redis,
    connections,
    prefix: config.redisPrefix,
    rateLimiter: countingRefusals(createRedisRateLimiter(redis, `${config.redisPrefix}${RATE_LIMIT_KEY_PREFIX}`), options.refusals),
    checks: { redis: () => redis.ping() },
    close() {
      closing ??= Promise.all(all.map((connection) => connection.quit().catch(() => connection.disconnect()))).then(() => undefined);
      return closing;
    },
  };
}
