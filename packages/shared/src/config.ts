import { resolve } from 'node:path';
import { LlmConfigError, loadLlmProviders, type LlmProviderConfig } from './llm-config';

/** The four subgraphs, in the order their ports are numbered from SUBGRAPH_PORT_BASE. */
export const SUBGRAPH_NAMES = ['users', 'characters', 'conversations', 'messages'] as const;
export type SubgraphName = (typeof SUBGRAPH_NAMES)[number];

/** Everything the processes read from the environment, read once at start-up and passed down. */
export interface Config {
  nodeEnv: 'development' | 'production' | 'test';
  /** The gateway's port. */
  port: number;
  /** Interface the servers listen on. */
  host: string;
  /** Subgraph i (1-based, in SUBGRAPH_NAMES order) listens on this + i. */
  subgraphPortBase: number;
  /** Where each subgraph is reached; defaults to http://127.0.0.1:<base+i>/graphql. */
  subgraphUrls: Record<SubgraphName, string>;
  /** Embedded PGlite data lives under this folder; `memory://` keeps it in memory. */
  dataDir: string;
  /** A PostgreSQL server; unset means embedded PGlite. */
  databaseUrl?: string;
  /** Prefix for each subgraph's schema on the PostgreSQL server (tests isolate runs with it). */
  databaseSchemaPrefix: string;
  redisUrl?: string;
  /** Prefix of every Redis key and channel: deployments (or test runs) sharing a Redis stay apart. */
  redisPrefix: string;
  auth: {
    issuer: string;
    audience: string;
    accessTokenTtlSeconds: number;
    refreshTokenTtlSeconds: number;
    /** A private JWK (JSON) to sign tokens with; unset in development: generated once under DATA_DIR. */
    privateJwk?: string;
    /** Public JWKs (a JSON array or JWKS) of keys rotated out: tokens they signed stay valid until they expire. */
    previousJwks?: string;
    /** Emails given the ADMIN role when they register while the system has no admin yet (bootstrap only; later: scripts/make-admin.ts). */
    adminEmails: string[];
    /** How often the gateway asks the users subgraph for revoked sessions (ms): their access tokens are refused within about that long. */
    revocationPollMs: number;
  };
  /** Service identity keys (packages/shared/src/service-auth.ts): JSON objects of JWKs by service name; unset outside production: generated. */
  serviceKeys: {
    privateKeys?: string;
    publicKeys?: string;
  };
  llm: {
    /** The providers replies come from (packages/shared/src/llm-config.ts); the first is the default. */
    providers: LlmProviderConfig[];
    /** The provider new conversations ask for: the first of the list. */
    defaultProvider: string;
    /** The model new conversations ask for: the default provider's default model (unset: the first one it lists). */
    model?: string;
    /** How often each provider's models endpoint is read again in the background (ms). */
    modelsRefreshMs: number;
    /** Longest wait for the first chunk of an attempt (connect, headers and prompt processing), ms. */
    firstTokenTimeoutMs: number;
    /** Longest silence between two chunks once the first arrived, ms. */
    idleTimeoutMs: number;
    /** Deadline for the whole call, retries and backoff included, ms. */
    totalTimeoutMs: number;
    /** Extra attempts after the first, made only before any chunk reached the caller. */
    maxRetries: number;
    /** Backoff before retry n (0-based) is this * 2^n (with jitter, capped), ms. */
    retryBaseDelayMs: number;
    /** Consecutive failed attempts that open a provider's circuit breaker. */
    breakerFailureThreshold: number;
    /** How long the breaker stays open before one trial call (half-open), ms. */
    breakerResetMs: number;
    /** The offline demo provider's pause between words (ms). */
    offlineWordDelayMs: number;
  };
  /** How long soft-deleted and archived data is kept (seed 003): the retention jobs purge what is older. */
  retention: {
    /** Soft-deleted conversations and messages: purged this many days after their deletion. */
    deletedDays: number;
    /** Archived conversations' messages: purged this many days after the archiving. */
    archivedDays: number;
  };
  chat: {
    /** How often a streaming reply's text is written to the database (ms). */
    flushIntervalMs: number;
    /** At most this many progress writes a second from one messages instance: under load each reply's interval stretches. */
    progressWritesPerSecond: number;
    /** Replies generated at once by one messages instance. */
    generationConcurrency: number;
    /** With Redis: a generation job unacknowledged this long is taken over by another instance (ms). */
    claimIdleMs: number;
    /** A chat session closes this long after its last subscriber left (ms). */
    sessionGraceMs: number;
    /** Each conversation's events are kept for replay by cursor while they are this recent OR among this many last ones. */
    replay: { keepMs: number; keepEvents: number };
  };
  initialCredits: number;
  /** The scheduled refill (as LibreChat's auto-refill): `refillAmount` credits to every user once per interval, across every users instance; 0 is off. */
  credits: {
    refillAmount: number;
    refillIntervalMs: number;
  };
  /**
   * SECRETS_KEY: the AES-256-GCM key (32 bytes, base64) users' own provider keys are encrypted under
   * (packages/shared/src/secrets.ts); unset outside production: generated once under DATA_DIR.
   */
  secretsKey?: string;
  rateLimitMessagesPerMinute: number;
  /** Sign-in throttles (the seeds' and LibreChat's practice): attempts per account and per address in 5 minutes, sign-ups per address an hour. */
  throttle: {
    /** Attempts at one account from addresses it has not signed in from before (known ones are not held back by it). */
    loginsPerAccount: number;
    loginsPerAddress: number;
    /** Attempts at one account from one address, known or not. */
    loginsPerAddressAndAccount: number;
    registrationsPerAddress: number;
  };
  logLevel: string;
  /** OpenTelemetry: where spans go (OTLP/HTTP; unset: not exported) and the service name to report (unset: each process's own). */
  tracing: {
    otlpEndpoint?: string;
    serviceName?: string;
  };
  /** The gateway sits behind a proxy that sets X-Forwarded-For (e.g. the compose load balancer): trust its first hop as the client. */
  trustProxy: boolean;
  /** Whether the gateway serves GraphiQL (GET /graphql from a browser, and /): on unless NODE_ENV=production. */
  graphiql: boolean;
  /** Whether @apollo/gateway may send Apollo its usage metrics (cloud metadata probes at start, an HTTPS export hourly and at stop): off unless asked for. */
  apolloTelemetry: boolean;
  /** The gateway's limits on GraphQL operations, each refused before execution (gateway/src/limits.ts). */
  limits: {
    maxDepth: number;
    maxAliases: number;
    maxCost: number;
    maxDocumentBytes: number;
    /** Largest answer (JSON, UTF-8 bytes) the gateway sends for one operation or subscription event. */
    maxResponseBytes: number;
  };
  /** Browser origins the gateway answers CORS requests for (exact `scheme://host[:port]`); empty: no CORS headers. */
  corsOrigins: string[];
  /** Character images: served by the gateway (packages/shared/src/images.ts), stored by the characters subgraph. */
  images: {
    /** The gateway's origin as clients reach it: `avatarUrl`s start with it. */
    publicUrl: string;
    /** The HMAC key of a private character's expiring image URLs; unset outside production: generated once under DATA_DIR. */
    urlSecret?: string;
  };
  /** The gateway's graphql-ws limits: subscriptions per socket, sockets per user (per gateway), bytes per message. */
  socketLimits: {
    maxSubscriptionsPerConnection: number;
    maxConnectionsPerUser: number;
    maxMessageBytes: number;
  };
}

type Env = Record<string, string | undefined>;

/** Thrown for a configuration that cannot work; the message names the variable. */
export class ConfigError extends Error {}

function int(env: Env, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new ConfigError(`${name} must be an integer >= ${min}, got "${raw}"`);
  return value;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!allowed.includes(raw as T)) throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
  return raw as T;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

function url(env: Env, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  try {
    new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be a URL, got "${raw}"`);
  }
  return raw;
}

function origins(env: Env, name: string): string[] {
  const list = (env[name] ?? '').split(',').map((o) => o.trim()).filter(Boolean);
  for (const origin of list) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (!parsed || parsed.origin !== origin) throw new ConfigError(`${name} must be comma-separated origins like https://app.example.com, got "${origin}"`);
  }
  return list;
}

/** PUBLIC_URL as an origin (no path, no trailing slash); by default the gateway's own address. */
function publicUrl(env: Env, host: string, port: number): string {
  const given = url(env, 'PUBLIC_URL');
  if (given === undefined) return `http://${host === '0.0.0.0' || host === '::' ? 'localhost' : host}:${port}`;
  const parsed = new URL(given);
  if (!['http:', 'https:'].includes(parsed.protocol) || parsed.origin !== given.replace(/\/$/, '')) {
    throw new ConfigError(`PUBLIC_URL must be an http(s) origin like https://chat.example.com, got "${given}"`);
  }
  return parsed.origin;
}

/** A secret of at least `minLength` characters, or undefined when unset. */
function secret(env: Env, name: string, minLength: number): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (raw.length < minLength) throw new ConfigError(`${name} must be at least ${minLength} characters (e.g. openssl rand -base64 32)`);
  return raw;
}

/** Bytes of SECRETS_KEY: an AES-256 key. */
export const SECRETS_KEY_BYTES = 32;

/** SECRETS_KEY, checked to be SECRETS_KEY_BYTES bytes of base64, or undefined when unset. */
function secretsKey(env: Env): string | undefined {
  const raw = env.SECRETS_KEY?.trim();
  if (!raw) return undefined;
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(raw) || Buffer.from(raw, 'base64').length !== SECRETS_KEY_BYTES) {
    throw new ConfigError(`SECRETS_KEY must be ${SECRETS_KEY_BYTES} bytes in base64 (e.g. openssl rand -base64 32)`);
  }
  return raw;
}

/** The LLM providers, their mistakes reported as configuration errors. */
function providersFrom(env: Env): LlmProviderConfig[] {
  try {
    return loadLlmProviders(env);
  } catch (error) {
    if (error instanceof LlmConfigError) throw new ConfigError(error.message);
    throw error;
  }
}

/** Reads and validates the configuration from an environment (process.env by default). */
export function loadConfig(env: Env = process.env): Config {
  const nodeEnv = oneOf(env, 'NODE_ENV', ['development', 'production', 'test'] as const, 'development');
  const subgraphPortBase = int(env, 'SUBGRAPH_PORT_BASE', 4000, 1);
  const subgraphUrls = Object.fromEntries(
    SUBGRAPH_NAMES.map((name, i) => [
      name,
      url(env, `${name.toUpperCase()}_URL`) ?? `http://127.0.0.1:${subgraphPortBase + i + 1}/graphql`,
    ]),
  ) as Record<SubgraphName, string>;
  const llmProviders = providersFrom(env);
  const dataDir = env.DATA_DIR?.startsWith('memory://') ? 'memory://' : resolve(env.DATA_DIR || './.data');
  const schemaPrefix = env.DATABASE_SCHEMA_PREFIX ?? '';
  if (!/^[a-z0-9_]*$/.test(schemaPrefix)) throw new ConfigError('DATABASE_SCHEMA_PREFIX may hold only a-z, 0-9 and _');
  const port = int(env, 'PORT', 4000);
  const host = env.HOST || '127.0.0.1';
  return {
    nodeEnv,
    port,
    host,
    subgraphPortBase,
    subgraphUrls,
    dataDir,
    databaseUrl: url(env, 'DATABASE_URL'),
    databaseSchemaPrefix: schemaPrefix,
    redisUrl: url(env, 'REDIS_URL'),
    redisPrefix: env.REDIS_KEY_PREFIX || 'chat:',
    auth: {
      issuer: env.JWT_ISSUER || 'character-chat',
      audience: env.JWT_AUDIENCE || 'character-chat-api',
      accessTokenTtlSeconds: int(env, 'ACCESS_TOKEN_TTL_SECONDS', 15 * 60, 1),
      refreshTokenTtlSeconds: int(env, 'REFRESH_TOKEN_TTL_SECONDS', 30 * 24 * 3600, 1),
      privateJwk: env.JWT_PRIVATE_JWK || undefined,
      previousJwks: env.JWT_PREVIOUS_JWKS || undefined,
      adminEmails: (env.ADMIN_EMAILS ?? '')
        .split(',')
        .map((e) => e.trim().toLowerCase())
        .filter(Boolean),
      revocationPollMs: int(env, 'REVOCATION_POLL_MS', 1000, 50),
    },
    serviceKeys: {
      privateKeys: env.SERVICE_PRIVATE_KEYS || undefined,
      publicKeys: env.SERVICE_PUBLIC_KEYS || undefined,
    },
    llm: {
      providers: llmProviders,
      defaultProvider: llmProviders[0].id,
      model: llmProviders[0].defaultModel,
      modelsRefreshMs: int(env, 'LLM_MODELS_REFRESH_MS', 5 * 60_000, 100),
      firstTokenTimeoutMs: int(env, 'LLM_FIRST_TOKEN_TIMEOUT_MS', 60_000, 1),
      idleTimeoutMs: int(env, 'LLM_IDLE_TIMEOUT_MS', 30_000, 1),
      totalTimeoutMs: int(env, 'LLM_TOTAL_TIMEOUT_MS', 300_000, 1),
      maxRetries: int(env, 'LLM_MAX_RETRIES', 2),
      retryBaseDelayMs: int(env, 'LLM_RETRY_BASE_DELAY_MS', 500),
      breakerFailureThreshold: int(env, 'LLM_BREAKER_FAILURES', 5, 1),
      breakerResetMs: int(env, 'LLM_BREAKER_RESET_MS', 30_000, 1),
      offlineWordDelayMs: int(env, 'OFFLINE_WORD_DELAY_MS', 40),
    },
    retention: {
      deletedDays: int(env, 'RETENTION_DELETED_DAYS', 180),
      archivedDays: int(env, 'RETENTION_ARCHIVED_DAYS', 730),
    },
    chat: {
      flushIntervalMs: int(env, 'REPLY_FLUSH_INTERVAL_MS', 500, 1),
      progressWritesPerSecond: int(env, 'REPLY_PROGRESS_WRITES_PER_SECOND', 200, 1),
      generationConcurrency: int(env, 'GENERATION_CONCURRENCY', 16, 1),
      claimIdleMs: int(env, 'JOB_CLAIM_IDLE_MS', 15_000, 100),
      sessionGraceMs: int(env, 'SESSION_GRACE_MS', 30_000, 0),
      // The contract's minimum: the last 10 minutes or the last 1,000 events of a conversation (tests lower both).
      replay: { keepMs: int(env, 'REPLAY_KEEP_SECONDS', 600, 0) * 1000, keepEvents: int(env, 'REPLAY_KEEP_EVENTS', 1000, 1) },
    },
    initialCredits: int(env, 'INITIAL_CREDITS', 100000),
    credits: {
      refillAmount: int(env, 'CREDITS_REFILL_AMOUNT', 0),
      refillIntervalMs: int(env, 'CREDITS_REFILL_INTERVAL_MS', 24 * 3600_000, 1000),
    },
    secretsKey: secretsKey(env),
    rateLimitMessagesPerMinute: int(env, 'RATE_LIMIT_MESSAGES_PER_MINUTE', 100, 1),
    throttle: {
      loginsPerAccount: int(env, 'LOGIN_ATTEMPTS_PER_ACCOUNT', 5, 1),
      loginsPerAddress: int(env, 'LOGIN_ATTEMPTS_PER_ADDRESS', 30, 1),
      loginsPerAddressAndAccount: int(env, 'LOGIN_ATTEMPTS_PER_ADDRESS_AND_ACCOUNT', 5, 1),
      registrationsPerAddress: int(env, 'REGISTRATIONS_PER_ADDRESS', 20, 1),
    },
    trustProxy: bool(env, 'TRUST_PROXY', false),
    logLevel: env.LOG_LEVEL || (nodeEnv === 'test' ? 'silent' : 'info'),
    tracing: {
      otlpEndpoint: url(env, 'OTEL_EXPORTER_OTLP_ENDPOINT'),
      serviceName: env.OTEL_SERVICE_NAME || undefined,
    },
    graphiql: bool(env, 'GRAPHIQL', nodeEnv !== 'production'),
    // Apollo's own switch, with the opposite default: nothing leaves the deployment unless the operator says so.
    apolloTelemetry: !bool(env, 'APOLLO_TELEMETRY_DISABLED', true),
    limits: {
      maxDepth: int(env, 'MAX_QUERY_DEPTH', 12, 1),
      maxAliases: int(env, 'MAX_ALIASES', 30, 0),
      maxCost: int(env, 'MAX_QUERY_COST', 5000, 1),
      maxDocumentBytes: int(env, 'MAX_DOCUMENT_BYTES', 20_000, 1),
      maxResponseBytes: int(env, 'MAX_RESPONSE_BYTES', 8 * 1024 * 1024, 1024),
    },
    corsOrigins: origins(env, 'CORS_ORIGINS'),
    images: {
      publicUrl: publicUrl(env, host, port),
      urlSecret: secret(env, 'IMAGE_URL_SECRET', 32),
    },
    socketLimits: {
      maxSubscriptionsPerConnection: int(env, 'WS_MAX_SUBSCRIPTIONS_PER_CONNECTION', 20, 1),
      maxConnectionsPerUser: int(env, 'WS_MAX_CONNECTIONS_PER_USER', 10, 1),
      maxMessageBytes: int(env, 'WS_MAX_MESSAGE_BYTES', 64 * 1024, 1024),
    },
  };
}
