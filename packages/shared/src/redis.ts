import { Redis } from 'ioredis';

export type { Redis };

/** Longest pause between reconnection attempts (ms): a lost Redis is retried forever, never given up on. */
export const REDIS_MAX_RETRY_DELAY_MS = 2_000;

/** A Redis connection that reconnects with backoff and fails commands fast while it is down. */
export function connectRedis(url: string, name: string): Redis {
  return new Redis(url, {
    connectionName: name,
    retryStrategy: (attempt) => Math.min(attempt * 100, REDIS_MAX_RETRY_DELAY_MS),
    // While disconnected, commands fail at once instead of queueing into nothing.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    lazyConnect: false,
  });
}

/**
 * How long a starting service waits for a Redis connection to be ready. Generous: a loaded machine
 * delays the connection's handshake by as long as the starting process's event loop is busy
 * (PGlite's WebAssembly start, four subgraphs starting at once in one process), and a real outage
 * fails the start all the same, only later.
 */
export const REDIS_READY_TIMEOUT_MS = 60_000;

/** Waits until the connection is ready (bounded), so start-up fails clearly when Redis is unreachable. */
export async function redisReady(redis: Redis, timeoutMs = REDIS_READY_TIMEOUT_MS): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      // A blocked event loop can run this timer before the pending 'ready' event: look once more.
      if (redis.status === 'ready') resolve();
      else reject(new Error(`Redis did not become ready within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
    };
    redis.on('ready', onReady);
  });
}
