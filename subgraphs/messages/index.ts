import { readFileSync } from 'node:fs';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import type { Config } from '@chat/shared/config';
import { openDatabase } from '@chat/shared/db';
import { createPeerClients } from '@chat/shared/peer-client';
import { countingRefusals, createMemoryRateLimiter, createRedisRateLimiter } from '@chat/shared/rate-limit';
import { connectRedis, redisReady } from '@chat/shared/redis';
import type { SubgraphService } from '@chat/shared/subgraph';
import { createTelemetry } from '@chat/shared/telemetry';
import { createContext, PEERS, type Context } from './context';
import { abandonReply, ReplyGenerator } from './generation/generator';
import { createMemoryQueue, createRedisQueue, type JobQueue } from './generation/queue';
import { createLlmProvider } from './llm';
import { createMemoryEventBus, createRedisEventBus } from './realtime/events';
import { createMemoryPresence, createRedisPresence } from './realtime/presence';
import { SessionTracker } from './realtime/sessions';
import { ReplyLifecycle } from './replies/lifecycle';
import { ReplyMetrics } from './replies/metrics';
import { chargeCompletedReplies } from './replies/settle';
import { resolvers } from './resolvers';
import { MessagesStore, migrations, type MessagesTables } from './store';

/** The messages subgraph's schema document. */
export const typeDefs = parse(readFileSync(new URL('./schema.graphql', import.meta.url), 'utf8'));

/** The messages subgraph, with its reply generator (exposed for the admin view and tests). */
export interface MessagesService extends SubgraphService<Context> {
  generator: ReplyGenerator;
}

/** Opens the messages store, starts the reply generator and builds the subgraph (HTTP and graphql-ws). */
export async function createMessagesSubgraph(config: Config): Promise<MessagesService> {
  const telemetry = createTelemetry(config, 'messages');
  const { log, tracer } = telemetry;
  const database = await openDatabase<MessagesTables>({ name: 'messages', config, migrations, telemetry });
  const store = new MessagesStore(database);
  const peers = createPeerClients(config.subgraphUrls, PEERS);
  // With Redis, events and rate limits are shared by every instance; without it, they live in this process.
  const redis = config.redisUrl
    ? {
        publisher: connectRedis(config.redisUrl, 'messages'),
        subscriber: connectRedis(config.redisUrl, 'messages-events'),
        // Blocking stream reads get a connection of their own.
        jobs: connectRedis(config.redisUrl, 'messages-jobs'),
      }
    : undefined;
  if (redis) await Promise.all(Object.values(redis).map((connection) => redisReady(connection)));
  const bus = redis ? createRedisEventBus(redis.publisher, redis.subscriber, config.redisPrefix, tracer) : createMemoryEventBus();
  const rateLimiter = countingRefusals(
    redis ? createRedisRateLimiter(redis.publisher, `${config.redisPrefix}ratelimit:`) : createMemoryRateLimiter(),
    telemetry.metrics.rateLimitRefusals,
  );
  const metrics = new ReplyMetrics(telemetry.metrics.registry);
  const replies = new ReplyLifecycle({ store, bus, settle: chargeCompletedReplies(peers.users, metrics), log });
  const provider = createLlmProvider(config.llm);
  if (config.llm.provider === 'offline') log.info('no LLM configured: replies come from the offline demo provider (set LLM_PROVIDER, see README)');
  const queue: JobQueue = redis
    ? createRedisQueue(redis.publisher, redis.jobs, {
        prefix: config.redisPrefix,
        claimIdleMs: config.chat.claimIdleMs,
        log,
        onDeadLetter: abandonReply(replies),
      })
    : createMemoryQueue();
  const generator = new ReplyGenerator({
    store,
    queue,
    bus,
    provider,
    replies,
    log,
    flushIntervalMs: config.chat.flushIntervalMs,
    progressWritesPerSecond: config.chat.progressWritesPerSecond,
    concurrency: config.chat.generationConcurrency,
    metrics,
    tracer,
  });
  generator.start();
  const sessions = new SessionTracker({
    presence: redis ? createRedisPresence(redis.publisher, config.redisPrefix) : createMemoryPresence(),
    store,
    conversations: peers.conversations,
    log,
    graceMs: config.chat.sessionGraceMs,
  });
  const schema = buildSubgraphSchema({ typeDefs, resolvers: resolvers as never });
  const shared = { store, peers, bus, replies, generator, sessions, rateLimiter, config, log };
  return {
    name: 'messages',
    schema,
    generator,
    stats: database.stats,
    telemetry,
    checks: {
      database: database.ping,
      ...(redis ? { redis: () => redis.publisher.ping() } : {}),
    },
    // Health with the generator's load: operators (and the scale-out test) see who is generating what.
    healthDetails: async () => ({ generation: await generator.load() }),
    createContext: (identity) => createContext(shared, identity),
    subscriptions: true,
    async close() {
      sessions.stop();
      await generator.drain();
      await bus.close();
      if (redis) await Promise.all(Object.values(redis).map((connection) => connection.quit().catch(() => connection.disconnect())));
      await database.close();
    },
  };
}
