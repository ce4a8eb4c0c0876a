/** Starts the real system (four subgraphs + gateway, real HTTP) on free ports for a test file. */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { SUBGRAPH_NAMES, loadConfig, type Config } from '@chat/shared/config';
import { startSystem, type RunningSystem } from '@chat/system';
import { freePort } from './ports';
import { dropSchema } from './postgres';

/** Which store engine a test system runs on. */
export type Engine = 'pglite' | 'postgres';
export const ENGINES: Engine[] = ['pglite', 'postgres'];

/** The PostgreSQL server tests use; CI makes sure it is up. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A GraphQL response as the client sees it. */
export interface GqlResponse<T = any> {
  status: number;
  data?: T;
  errors?: Array<{ message: string; extensions?: { code?: string; [k: string]: unknown } }>;
}

/** A running test system with a client for its gateway. */
export interface TestSystem {
  config: Config;
  system: RunningSystem;
  gatewayUrl: string;
  /** POSTs GraphQL to `url` (the gateway by default). */
  gql<T = any>(query: string, variables?: Record<string, unknown>, token?: string, url?: string): Promise<GqlResponse<T>>;
  /** Registers a fresh user; returns their tokens and id. */
  signUp(name?: string): Promise<{ token: string; refreshToken: string; id: string; email: string }>;
  /** Registers the system's admin (ADMIN_EMAIL, once per system); returns their tokens and id. */
  signUpAdmin(): Promise<{ token: string; refreshToken: string; id: string; email: string }>;
  stop(): Promise<void>;
}

/** The email every test system makes an admin. */
export const ADMIN_EMAIL = 'admin@example.com';

let counter = 0;

/** Unique enough for emails and schema names across parallel jest workers. */
export function uniqueName(prefix = 'u'): string {
  counter += 1;
  return `${prefix}${process.pid}x${counter}x${randomBytes(3).toString('hex')}`;
}

/** Starts a whole system; `env` overrides configuration variables. */
export async function startTestSystem(engine: Engine = 'pglite', env: Record<string, string> = {}): Promise<TestSystem> {
  const ports = await Promise.all([0, 1, 2, 3, 4].map(() => freePort()));
  const schemaPrefix = `t_${uniqueName('s').toLowerCase()}_`;
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: String(ports[0]),
    DATA_DIR: 'memory://',
    ...Object.fromEntries(SUBGRAPH_NAMES.map((name, i) => [`${name.toUpperCase()}_URL`, `http://127.0.0.1:${ports[i + 1]}/graphql`])),
    ...(engine === 'postgres' ? { DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA_PREFIX: schemaPrefix } : {}),
    ADMIN_EMAILS: ADMIN_EMAIL,
    // Test files sign up and sign in many users from 127.0.0.1; the throttle tests lower these.
    REGISTRATIONS_PER_ADDRESS: '100000',
    LOGIN_ATTEMPTS_PER_ADDRESS: '100000',
    REDIS_KEY_PREFIX: `${schemaPrefix}:`,
    ...env,
  });
  const system = await startSystem(config);
  const gatewayUrl = system.gateway.url;
  const gql: TestSystem['gql'] = async (query, variables = {}, token, url = gatewayUrl) => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as { data?: any; errors?: any };
    return { status: response.status, data: body.data, errors: body.errors };
  };
  const register = async (email: string, name: string) => {
    const res = await gql(
      `mutation($input: RegisterInput!) { register(input: $input) { accessToken refreshToken user { id } } }`,
      { input: { email, password: 'correct horse battery', displayName: name } },
    );
    if (!res.data) throw new Error(`signUp failed: ${JSON.stringify(res.errors)}`);
    return { token: res.data.register.accessToken, refreshToken: res.data.register.refreshToken, id: res.data.register.user.id, email };
  };
  return {
    config,
    system,
    gatewayUrl,
    gql,
    signUp: (name = 'Tester') => register(`${uniqueName('user')}@example.com`, name),
    signUpAdmin: () => register(ADMIN_EMAIL, 'Admin'),
    async stop() {
      await system.stop();
      if (engine === 'postgres') await Promise.all(SUBGRAPH_NAMES.map((name) => dropSchema(TEST_DATABASE_URL, `${schemaPrefix}${name}`)));
      if (config.redisUrl) {
        // This run's streams, progress and counters go with it (best effort: a test may have stopped that Redis).
        const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 1, retryStrategy: () => null, lazyConnect: true });
        redis.on('error', () => undefined);
        try {
          await redis.connect();
          const keys = await redis.keys(`${config.redisPrefix}*`);
          if (keys.length > 0) await redis.del(...keys);
        } catch {
          // nothing to clean where Redis is gone
        } finally {
          redis.disconnect();
        }
      }
    },
  };
}
