import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { Database } from '@chat/shared/db';
import { isUuid } from '@chat/shared/validate';

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

interface RefreshTokenRow {
  id: string;
  user_id: string;
  family_id: string;
  token_hash: string;
  expires_at: Date;
  used_at: Date | null;
  revoked_at: Date | null;
  created_at: Date;
}

interface CreditLedgerRow {
  id: string;
  user_id: string;
  amount: number;
  reason: string;
  idempotency_key: string;
  created_at: Date;
}

/** The users subgraph's tables. */
export interface UsersTables {
  users: UserRow;
  refresh_tokens: RefreshTokenRow;
  credit_ledger: CreditLedgerRow;
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
};

/** Refresh tokens are random; only their SHA-256 is stored. */
function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/** Why a refresh token was refused. */
export type RefreshRefusal = 'unknown' | 'expired' | 'revoked' | 'reused';

/** Reads and writes accounts, sessions and the credits ledger. */
export class UsersStore {
  constructor(private readonly database: Database<UsersTables>) {}

  private get db() {
    return this.database.db;
  }

  /** Users by id, in one query. */
  usersByIds(ids: readonly string[]): Promise<UserRow[]> {
    const valid = ids.filter(isUuid);
    if (valid.length === 0) return Promise.resolve([]);
    return this.db.selectFrom('users').selectAll().where('id', 'in', valid).execute();
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
        .values({ id: randomUUID(), user_id: user.id, amount: input.credits, reason: 'opening balance', idempotency_key: `opening:${user.id}`, created_at: new Date() })
        .execute();
      return user;
    });
  }

  /**
   * Charges a user once per idempotency key, in one transaction with the ledger entry;
   * returns the balance after it (unchanged when the key was charged before).
   */
  async charge(userId: string, amount: number, key: string, reason: string): Promise<number | undefined> {
    return this.db.transaction().execute(async (tx) => {
      const entry = await tx
        .insertInto('credit_ledger')
        .values({ id: randomUUID(), user_id: userId, amount: -amount, reason, idempotency_key: key, created_at: new Date() })
        .onConflict((oc) => oc.column('idempotency_key').doNothing())
        .returning('id')
        .executeTakeFirst();
      const user = entry
        ? await tx.updateTable('users').set((eb) => ({ credits: eb('credits', '-', amount) })).where('id', '=', userId).returning('credits').executeTakeFirst()
        : await tx.selectFrom('users').select('credits').where('id', '=', userId).executeTakeFirst();
      return user?.credits;
    });
  }

  /** Starts a session family (login) or continues one (rotation); returns the raw token. */
  async issueRefreshToken(userId: string, ttlSeconds: number, familyId: string = randomUUID()): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    await this.db
      .insertInto('refresh_tokens')
      .values({
        id: randomUUID(),
        user_id: userId,
        family_id: familyId,
        token_hash: hashToken(token),
        expires_at: new Date(Date.now() + ttlSeconds * 1000),
        created_at: new Date(),
      })
      .execute();
    return token;
  }

  /**
   * Uses a refresh token once: marks it used and returns its user and family. A token used
   * before is a stolen one being replayed, so its whole family is revoked.
   */
  async consumeRefreshToken(token: string): Promise<{ userId: string; familyId: string } | RefreshRefusal> {
    const tokenHash = hashToken(token);
    const consumed = await this.db
      .updateTable('refresh_tokens')
      .set({ used_at: new Date() })
      .where('token_hash', '=', tokenHash)
      .where('used_at', 'is', null)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', new Date())
      .returning(['user_id', 'family_id'])
      .executeTakeFirst();
    if (consumed) return { userId: consumed.user_id, familyId: consumed.family_id };
    const row = await this.db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
    if (!row) return 'unknown';
    if (row.revoked_at) return 'revoked';
    if (row.used_at) {
      await this.revokeFamily(row.family_id);
      return 'reused';
    }
    return 'expired';
  }

  /** Ends the session the token belongs to; false when the token is unknown. */
  async revokeByToken(token: string): Promise<boolean> {
    const row = await this.db.selectFrom('refresh_tokens').select('family_id').where('token_hash', '=', hashToken(token)).executeTakeFirst();
    if (!row) return false;
    await this.revokeFamily(row.family_id);
    return true;
  }

  private async revokeFamily(familyId: string): Promise<void> {
    await this.db.updateTable('refresh_tokens').set({ revoked_at: new Date() }).where('family_id', '=', familyId).where('revoked_at', 'is', null).execute();
  }
}
