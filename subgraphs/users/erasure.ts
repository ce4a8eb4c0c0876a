/**
 * The users subgraph's own part of erasing a user: the last step of deleteAccount's saga, run once
 * every other subgraph has erased its part (account/saga-worker.ts). A new table holding a user's rows is one
 * more line in USERS_ERASURE (before `users`, which the others reference).
 */
import type { TableErasure } from '@chat/shared/erasure';

/** The user's rows, children before the rows they reference; the saga's own rows go after, in the same transaction. */
export const USERS_ERASURE: readonly TableErasure[] = [
  { table: 'refresh_tokens', column: 'user_id' },
  { table: 'refresh_families', column: 'user_id' },
  { table: 'sign_in_addresses', column: 'user_id' },
  { table: 'credit_ledger', column: 'user_id' },
  { table: 'personas', column: 'owner_id' },
  { table: 'provider_keys', column: 'user_id' },
  { table: 'spending_limits', column: 'user_id' },
  { table: 'users', column: 'id' },
];

/** The rate-limit keys that name the user (their id, or their email as sign-ins count it). */
export const rateLimitKeys = (userId: string, email: string): string[] => [`password:account:${userId}`, `login:account:${email}`, `login:pair:*:${email}`];
