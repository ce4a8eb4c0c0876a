import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { Database } from '@chat/shared/db';
import { DELETED_USER_ID, DELETED_USER_NAME } from '@chat/shared/erasure';
import { isUuid } from '@chat/shared/validate';
import { SessionStore, sessionMigrations, type SessionTables } from './auth/sessions';
import { ledgerMigrations, type CreditEntryRow, type CreditRefillRow } from './credits/ledger';
import { PersonaStore, personaMigrations, type PersonaRow } from './personas/persona-store';
import { providerKeyMigrations, type ProviderKeyTables } from './provider-keys/provider-key-store';
import { SpendingLimitStore, spendingMigrations, type SpendingLimitRow } from './credits/spending-store';
import { SagaStore, sagaMigrations, type SagaTables } from './account/saga-store';

export type { CreditEntryRow, PersonaRow };

/** A user as stored. */
export interface UserRow {
  id: string;
  email: string;
  password_hash: string;
  display_name: string;
  role: 'USER' | 'ADMIN';
  credits: number;
  created_at: Date;
}

/** The users subgraph's tables (sessions keep theirs in auth/sessions.ts). */
export interface UsersTables extends SessionTables, ProviderKeyTables, SagaTables {
  users: UserRow;
  credit_ledger: CreditEntryRow;
  personas: PersonaRow;
  spending_limits: SpendingLimitRow;
  credit_refills: CreditRefillRow;
}

/** Migrations, applied in name order, each once. */
export const migrations: Record<string, Migration> = {
  '001_accounts': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('users')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('email', 'text', (c) => c.notNull().unique())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('display_name', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('USER', 'ADMIN')`))
        .addColumn('credits', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema
        .createTable('refresh_tokens')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('family_id', 'uuid', (c) => c.notNull())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
        .addColumn('used_at', 'timestamptz')
        .addColumn('revoked_at', 'timestamptz')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema.createIndex('refresh_tokens_family').on('refresh_tokens').column('family_id').execute();
      await db.schema
        .createTable('credit_ledger')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('amount', 'integer', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('idempotency_key', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
    },
  },
  ...ledgerMigrations,
  ...sessionMigrations,
  ...personaMigrations,
  ...spendingMigrations,
  ...providerKeyMigrations,
  ...sagaMigrations,
};

/**
 * The owner of what an erased account left for others (a public character they talk with): no
 * account, no email, no credits; it resolves so that a non-null `owner` still does.
 */
const DELETED_USER: Readonly<UserRow> = Object.freeze({
  id: DELETED_USER_ID,
  email: '',
  password_hash: '',
  display_name: DELETED_USER_NAME,
  role: 'USER',
  credits: 0,
  created_at: new Date(0),
});

/** The transaction-scoped advisory lock that makes "the first admin" one user, however many sign up at once. */
const FIRST_ADMIN_LOCK = 0x61646d6e; // "admn"

/** Reads and writes accounts, sessions and the credits ledger. */
export class UsersStore {
  /** Sessions (refresh-token families) and the addresses accounts sign in from, in the same database. */
  readonly sessions: SessionStore;

  /** Personas (who a user is in a conversation), in the same database. */
  readonly personas: PersonaStore;

  /** Users' spending limits, in the same database (the ledger checks them in each hold). */
  readonly spendingLimits: SpendingLimitStore;
  /** deleteAccount's sagas, in the same database. */
  readonly saga: SagaStore;

  constructor(private readonly database: Database<UsersTables>) {
    this.sessions = new SessionStore(database.db);
    this.personas = new PersonaStore(database.db);
    this.spendingLimits = new SpendingLimitStore(database.db);
    this.saga = new SagaStore(database.db, this.sessions);
  }

  private get db() {
    return this.database.db;
  }

  /** Users by id, in one query. */
  async usersByIds(ids: readonly string[]): Promise<UserRow[]> {
    const valid = ids.filter((id) => isUuid(id) && id !== DELETED_USER_ID);
    const placeholder = ids.includes(DELETED_USER_ID) ? [{ ...DELETED_USER }] : [];
    if (valid.length === 0) return placeholder;
    return [...(await this.db.selectFrom('users').selectAll().where('id', 'in', valid).execute()), ...placeholder];
  }

  userByEmail(email: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
  }

  /** Creates the account and records its opening credits; undefined when the email is taken. */
  async createUser(input: { email: string; passwordHash: string; displayName: string; role: UserRow['role']; credits: number }): Promise<UserRow | undefined> {
    return this.db.transaction().execute(async (tx) => {
      const user = await tx
        .insertInto('users')
        .values({
          id: randomUUID(),
          email: input.email,
          password_hash: input.passwordHash,
          display_name: input.displayName,
          role: input.role,
          credits: input.credits,
          created_at: new Date(),
        })
        .onConflict((oc) => oc.column('email').doNothing())
        .returningAll()
        .executeTakeFirst();
      if (!user) return undefined;
      await tx
        .insertInto('credit_ledger')
        .values({ id: randomUUID(), user_id: user.id, kind: 'INITIAL', amount: input.credits, balance_after: input.credits, reply_id: null, reason: 'opening balance', idempotency_key: `opening:${user.id}`, created_at: new Date() })
        .execute();
      return user;
    });
  }

  /**
   * Makes the user an admin if the system has none yet (ADMIN_EMAILS bootstraps the first one, and
   * only that one), under a lock so that two sign-ups at once cannot both be first. Returns the
   * user as stored afterwards.
   */
  async claimFirstAdmin(userId: string): Promise<UserRow | undefined> {
    return this.db.transaction().execute(async (tx) => {
      await sql`SELECT pg_advisory_xact_lock(${FIRST_ADMIN_LOCK})`.execute(tx);
      const admin = await tx.selectFrom('users').select('id').where('role', '=', 'ADMIN').limit(1).executeTakeFirst();
      if (!admin) await tx.updateTable('users').set({ role: 'ADMIN' }).where('id', '=', userId).execute();
      return tx.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst();
    });
  }

  /** Changes the user's display name; undefined when there is no such user. */
  setDisplayName(userId: string, displayName: string): Promise<UserRow | undefined> {
    return this.db.updateTable('users').set({ display_name: displayName }).where('id', '=', userId).returningAll().executeTakeFirst();
  }

  /**
   * Sets a new password hash and ends every session of the user, in one transaction: no session
   * signed in with the old password outlives the change. Undefined when there is no such user.
   */
  async changePassword(userId: string, passwordHash: string): Promise<UserRow | undefined> {
    return this.db.transaction().execute(async (tx) => {
      const user = await tx.updateTable('users').set({ password_hash: passwordHash }).where('id', '=', userId).returningAll().executeTakeFirst();
      if (user) await this.sessions.revokeAllOf(userId, tx);
      return user;
    });
  }

  /** Gives the account with this (normalised) email a role, e.g. the make-admin command; undefined when there is none. */
  setRole(email: string, role: UserRow['role']): Promise<UserRow | undefined> {
    return this.db.updateTable('users').set({ role }).where('email', '=', email).returningAll().executeTakeFirst();
  }
}
