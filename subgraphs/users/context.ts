import type DataLoader from 'dataloader';
import type { AuditLog } from '@chat/shared/audit';
import type { Config } from '@chat/shared/config';
import { keyedLoader } from '@chat/shared/loaders';
import type { RateLimiter } from '@chat/shared/rate-limit';
import { requestContext, type SharedContext } from '@chat/shared/request-context';
import type { RequestIdentity } from '@chat/shared/subgraph';
import type { Logger } from '@chat/shared/log';
import type { SigningKeys } from './auth/signing-keys';
import type { ErasureWorker } from './account/saga-worker';
import type { CreditLedger } from './credits/ledger';
import type { ProviderKeyStore } from './provider-keys/provider-key-store';
import type { PersonaRow, UserRow, UsersStore } from './store';

/** Per-request context of the users subgraph. */
export interface Context extends RequestIdentity {
  store: UsersStore;
  /** Every movement of credits goes through it. */
  ledger: CreditLedger;
  /** Users' own provider keys, sealed under SECRETS_KEY. */
  providerKeys: ProviderKeyStore;
  keys: SigningKeys;
  /** Runs deleteAccount's sagas; woken when one is recorded. */
  erasures: ErasureWorker;
  log: Logger;
  /** Admin actions, logged and counted. */
  audit: AuditLog;
  config: Pick<Config, 'auth' | 'initialCredits' | 'throttle' | 'llm'>;
  rateLimiter: RateLimiter;
  /** A hash checked when the email is unknown, so a wrong email costs what a wrong password does. */
  decoyHash: Promise<string>;
  loaders: { user: DataLoader<string, UserRow | null>; persona: DataLoader<string, PersonaRow | null> };
}

/** A request's context: the shared parts, the caller, and DataLoaders of its own. */
export function createContext(shared: SharedContext<Context>, identity: RequestIdentity): Context {
  return requestContext<Context>(identity, shared, {
    user: keyedLoader((ids) => shared.store.usersByIds(ids), (row) => row.id),
    persona: keyedLoader((ids) => shared.store.personas.byIds(ids), (row) => row.id),
  });
}
