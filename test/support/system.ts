/** Starts the real system (four subgraphs + gateway, real HTTP) on free ports for a test file. */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { SUBGRAPH_NAMES, loadConfig, type Config, type SubgraphName } from '@chat/shared/config';
import {
  generateServiceKeySet,
  SERVICE_TOKEN_HEADER,
  serviceKeyEnvironment,
  type ActingFor,
  type ServiceKeyring,
  type ServiceKeySet,
  type ServiceName,
} from '@chat/shared/service-auth';
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

/** Who a test's direct call to a subgraph comes from. */
export interface SubgraphCaller {
  /** The service whose key signs the call (default: the gateway, as it forwards clients' operations); null sends no service token. */
  as?: ServiceName | null;
  /** A user's access token, sent as Authorization (as the gateway forwards it). */
  token?: string;
  /** The user the signing service vouches for (as a peer's calls do). */
  actingFor?: ActingFor;
  /** More headers, e.g. X-Forwarded-For. */
  headers?: Record<string, string>;
}

/** A running test system with a client for its gateway. */
export interface TestSystem {
  config: Config;
  system: RunningSystem;
  gatewayUrl: string;
  /** The system's service keys (every service's): tests sign direct calls to subgraphs as a service would. */
  keyring: ServiceKeyring;
  /** The key material behind `keyring` (for tests that forge tokens by hand). */
  serviceKeys: ServiceKeySet;
  /** POSTs GraphQL to `url` (the gateway by default). */
  gql<T = any>(query: string, variables?: Record<string, unknown>, token?: string, url?: string): Promise<GqlResponse<T>>;
  /** POSTs GraphQL straight to subgraph `name`, signed as `caller.as` (the gateway by default). */
  subgraphGql<T = any>(name: SubgraphName, query: string, variables?: Record<string, unknown>, caller?: SubgraphCaller): Promise<GqlResponse<T>>;
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
  // A key set of this system's own, configured as a deployment would (SERVICE_PRIVATE_KEYS, SERVICE_PUBLIC_KEYS).
  const serviceKeys = generateServiceKeySet();
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
    ...serviceKeyEnvironment(serviceKeys),
    ...env,
  });
  const system = await startSystem(config);
  const gatewayUrl = system.gateway.url;
  const post = async (url: string, query: string, variables: Record<string, unknown>, headers: Record<string, string>): Promise<GqlResponse> => {
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query, variables }) });
    const body = (await response.json()) as { data?: any; errors?: any };
    return { status: response.status, data: body.data, errors: body.errors };
  };
  const bearer = (token: string | undefined): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {});
  const gql: TestSystem['gql'] = (query, variables = {}, token, url = gatewayUrl) => post(url, query, variables, bearer(token));
  const subgraphGql: TestSystem['subgraphGql'] = async (name, query, variables = {}, caller = {}) => {
    const as = caller.as === undefined ? 'gateway' : caller.as;
    const signed: Record<string, string> = as ? { [SERVICE_TOKEN_HEADER]: await system.keyring.signer(as).token(name, caller.actingFor) } : {};
    return post(system.subgraphs[name].url, query, variables, { ...bearer(caller.token), ...signed, ...caller.headers });
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
    keyring: system.keyring,
    serviceKeys,
    gql,
    subgraphGql,
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
