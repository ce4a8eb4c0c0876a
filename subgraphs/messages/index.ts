import { readFileSync } from 'node:fs';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { createBackplane } from '@chat/shared/backplane';
import type { Config } from '@chat/shared/config';
import { openDatabase } from '@chat/shared/db';
import { createPeerClients } from '@chat/shared/peer-client';
import type { ServiceSigner } from '@chat/shared/service-auth';
import type { SubgraphService } from '@chat/shared/subgraph';
import { DailyJob } from '@chat/shared/retention';
import { createTelemetry } from '@chat/shared/telemetry';
import { AuditLog } from '@chat/shared/audit';
import { KeyedSerializer } from './chat/serial';
import { createContext, PEERS, type Context } from './context';
import { ProviderKeyDocument } from './generated/peers/users';
import { abandonReply, ReplyGenerator } from './generation/generator';
import { createJobQueue } from './generation/queue';
import { LlmCatalogue } from './llm/catalogue';
import { MessagesRetention } from './lifecycle/retention';
import { createEventBus } from './realtime/events';
import { createPresence } from './realtime/presence';
import { SessionTracker, watchOpenSubscriptions } from './realtime/sessions';
import { ReplyLifecycle } from './replies/lifecycle';
import { ReplyMetrics } from './replies/metrics';
import { CreditSettler } from './replies/settlements';
import { resolvers } from './resolvers';
import { MessagesStore, migrations, type MessagesTables } from './store';

/** Dedicated Redis connections: the event bus subscribes on one, the job queue blocks reading on the other. */
const BACKPLANE_ROLES = ['events', 'jobs'] as const;

/** The messages subgraph's schema document. */
export const typeDefs = parse(readFileSync(new URL('./schema.graphql', import.meta.url), 'utf8'));

/** The messages subgraph, with its reply generator (exposed for the admin view and tests). */
export interface MessagesService extends SubgraphService<Context> {
  generator: ReplyGenerator;
}

/** Opens the messages store, starts the reply generator and builds the subgraph (HTTP and graphql-ws). */
export async function createMessagesSubgraph(config: Config, signer: ServiceSigner): Promise<MessagesService> {
  const telemetry = createTelemetry(config, 'messages');
  const { log, tracer } = telemetry;
  const database = await openDatabase<MessagesTables>({ name: 'messages', config, migrations, telemetry });
  const store = new MessagesStore(database);
  // Calls to peers are signed as the messages service, for the user each acts for.
  const peers = createPeerClients(config.subgraphUrls, PEERS, signer);
  // Events, jobs, presence and rate limits are shared by every instance through Redis, or live in this process.
  const backplane = await createBackplane(config, 'messages', { refusals: telemetry.metrics.rateLimitRefusals, roles: BACKPLANE_ROLES });
  const bus = createEventBus(backplane, tracer, config.chat.replay);
  const metrics = new ReplyMetrics(telemetry.metrics.registry);
  // What ended replies owe is written with their end and settled by the drain, retried until the users subgraph takes it.
  const settler = new CreditSettler({ store, users: peers.users, log, metrics });
  const replies = new ReplyLifecycle({ store, bus, settle: () => settler.kick(), log });
  // The providers and their models, listed in the background: requests only read what is known.
  const catalogue = new LlmCatalogue(config.llm.providers, config.llm, log);
  catalogue.start();
  if (config.llm.providers.every((p) => p.kind === 'offline')) log.info('no LLM configured: replies come from the offline demo provider (set LLM_PROVIDER or LLM_CONFIG, see README)');
  const queue = createJobQueue(backplane, { claimIdleMs: config.chat.claimIdleMs, log, onDeadLetter: abandonReply(replies) });
  const generator = new ReplyGenerator({
    store,
    queue,
    bus,
    catalogue,
    // Asked as the user's reply is generated, never carried in the job (which may wait in Redis).
    providerKey: async (userId, provider) =>
      (await peers.users.call(ProviderKeyDocument, { provider }, { actingFor: { id: userId, role: 'USER' } })).providerKey ?? null,
    replies,
    log,
    flushIntervalMs: config.chat.flushIntervalMs,
    progressWritesPerSecond: config.chat.progressWritesPerSecond,
    concurrency: config.chat.generationConcurrency,
    metrics,
    tracer,
  });
  generator.start();
  settler.start();
  const sessions = new SessionTracker({
    presence: createPresence(backplane),
    store,
    conversations: peers.conversations,
    log,
    graceMs: config.chat.sessionGraceMs,
  });
  // Messages past their period go daily, one instance at a time.
  const retention = new MessagesRetention(database, config.retention);
  const purging = new DailyJob('messages retention', () => retention.run(new Date(), false), log);
  purging.start();
  const schema = buildSubgraphSchema({ typeDefs, resolvers: resolvers as never });
  const writes = new KeyedSerializer();
  watchOpenSubscriptions(telemetry.metrics.registry, sessions);
  const audit = new AuditLog(log, telemetry.metrics.registry);
  const shared = { store, peers, bus, replies, settler, generator, catalogue, writes, sessions, retention, rateLimiter: backplane.rateLimiter, config, log, audit };
  return {
    name: 'messages',
    schema,
    generator,
    stats: database.stats,
    telemetry,
    checks: { database: database.ping, ...backplane.checks },
    // Health with the generator's load: operators (and the scale-out test) see who is generating what.
    healthDetails: async () => ({ generation: await generator.load() }),
    createContext: (identity) => createContext(shared, identity),
    subscriptions: true,
    async close() {
      sessions.stop();
      catalogue.stop();
      await purging.stop();
      await generator.drain();
      await settler.stop();
      await bus.close();
      await backplane.close();
      await database.close();
    },
  };
}
