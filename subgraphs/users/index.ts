import { readFileSync } from 'node:fs';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import type { Config } from '@chat/shared/config';
import { createBackplane } from '@chat/shared/backplane';
import { openDatabase } from '@chat/shared/db';
import { JWKS_PATH } from '@chat/shared/auth';
import { sendJson } from '@chat/shared/http';
import type { SubgraphService } from '@chat/shared/subgraph';
import { loadSecretsKey } from '@chat/shared/secrets';
import { createPeerClients } from '@chat/shared/peer-client';
import type { ServiceSigner } from '@chat/shared/service-auth';
import { refusalPeriodMs } from '@chat/shared/session-revocation';
import { createTelemetry } from '@chat/shared/telemetry';
import { AuditLog } from '@chat/shared/audit';
import { loadSigningKeys, type SigningKeys } from './auth/signing-keys';
import { CreditLedger } from './credits/ledger';
import { decoyHash } from './auth/passwords';
import { ProviderKeyStore } from './provider-keys/provider-key-store';
import { startRefillSchedule } from './credits/refill';
import { createContext, type Context } from './context';
import { resolvers } from './resolvers';
import { REMOTE_STEPS } from './account/saga-store';
import { ErasureWorker } from './account/saga-worker';
import { migrations, UsersStore, type UsersTables } from './store';

/** The users subgraph's schema document. */
export const typeDefs = parse(readFileSync(new URL('./schema.graphql', import.meta.url), 'utf8'));

/** How often expired credit holds are looked for. */
const HOLD_SWEEP_INTERVAL_MS = 5 * 60_000;

/** The users subgraph, its signing keys (the JWKS route publishes them) and its erasure worker (tests watch it). */
export interface UsersService extends SubgraphService<Context> {
  keys: SigningKeys;
  erasures: ErasureWorker;
  store: UsersStore;
}

/** Opens the users store, loads the signing keys and builds the subgraph. */
export async function createUsersSubgraph(config: Config, signer: ServiceSigner): Promise<UsersService> {
  const telemetry = createTelemetry(config, 'users');
  // Before anything opens: production refuses to start without SECRETS_KEY.
  const secretsKey = loadSecretsKey(config);
  const database = await openDatabase<UsersTables>({ name: 'users', config, migrations, telemetry });
  const store = new UsersStore(database);
  const ledger = new CreditLedger(database);
  const providerKeys = new ProviderKeyStore(database.db, secretsKey);
  const keys = await loadSigningKeys(config);
  const decoy = decoyHash();
  // Sign-in throttles are shared through Redis when there is one, so every users instance counts alike.
  const backplane = await createBackplane(config, 'users', { refusals: telemetry.metrics.rateLimitRefusals });
  const audit = new AuditLog(telemetry.log, telemetry.metrics.registry);
  // Holds whose reply was never stored (a crash between the two) go back to their users.
  const releasingHolds = setInterval(
    () => void ledger.releaseExpired().catch((err) => telemetry.log.warn({ err }, 'releasing expired credit holds failed')),
    HOLD_SWEEP_INTERVAL_MS,
  );
  releasingHolds.unref();
  const refills = startRefillSchedule(config, ledger, telemetry.log);
  // deleteAccount's sagas: each other subgraph's step is a call signed as the users service.
  const erasures = new ErasureWorker({
    saga: store.saga,
    sessions: store.sessions,
    peers: createPeerClients(config.subgraphUrls, REMOTE_STEPS, signer),
    rateLimiter: backplane.rateLimiter,
    log: telemetry.log,
    refusalPeriodMs: refusalPeriodMs(config.auth.accessTokenTtlSeconds),
  });
  erasures.start();
  return {
    name: 'users',
    keys,
    erasures,
    store,
    schema: buildSubgraphSchema({ typeDefs, resolvers: resolvers as never }),
    stats: database.stats,
    telemetry,
    checks: { database: database.ping, ...backplane.checks },
    routes: { [JWKS_PATH]: (_req, res) => sendJson(res, 200, keys.jwks) },
    createContext: (identity) => createContext({ store, ledger, providerKeys, keys, erasures, config, log: telemetry.log, audit, decoyHash: decoy, rateLimiter: backplane.rateLimiter }, identity),
    close: async () => {
      clearInterval(releasingHolds);
      await refills?.stop();
      await erasures.stop();
      await backplane.close();
      await database.close();
    },
  };
}
