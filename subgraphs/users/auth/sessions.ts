/**
 * Sessions: refresh-token families, and the addresses each account has signed in from.
 *
 * A family is one sign-in (one device); each refresh rotates its token. Rotation and revocation
 * both hold the family's row (`SELECT … FOR UPDATE`) for their whole transaction, so they happen
 * one after the other: a replayed (stolen) token that loses a race to the owner's rotation still
 * revokes the family, and the token that rotation issued goes with it, as does every later one.
 * Access tokens name their family (`sid`); the gateway refuses those of a revoked family, learning
 * of it from `revokedSince` (gateway/src/revocations.ts).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Migration } from 'kysely/migration';

/** One refresh token: only its SHA-256 is stored. */
export interface RefreshTokenRow {
  id: string;
  user_id: string;
  family_id: string;
  token_hash: string;
  expires_at: Date;
  used_at: Date | null;
  created_at: Date;
}

/** One session (a sign-in and its rotations); revoked as a whole. */
export interface RefreshFamilyRow {
  id: string;
  user_id: string;
  revoked_at: Date | null;
  created_at: Date;
}

/** An address an account signed in from, stored as a hash tied to the account (no plain IP addresses at rest). */
export interface SignInAddressRow {
  user_id: string;
  address_hash: string;
  last_seen_at: Date;
}

/**
 * A session of an erased account: its family row went with the account, but its access tokens must
 * still be refused until they expire. Only the session's random id is kept, nothing of the account.
 */
export interface EndedSessionRow {
  session_id: string;
  revoked_at: Date;
}

/** The tables sessions keep in the users subgraph's database. */
export interface SessionTables {
  refresh_tokens: RefreshTokenRow;
  refresh_families: RefreshFamilyRow;
  sign_in_addresses: SignInAddressRow;
  ended_sessions: EndedSessionRow;
}

/** Addresses remembered per account (the most recent ones), and for how long after their last sign-in. */
export const KNOWN_ADDRESSES_PER_ACCOUNT = 10;
export const KNOWN_ADDRESS_TTL_MS = 90 * 24 * 3600_000;

/**
 * Families become rows of their own (existing ones from their tokens; a family with any revoked
 * token was revoked as a whole), and revocation moves from each token to the family.
 */
export const sessionMigrations: Record<string, Migration> = {
  '003_refresh_families': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('refresh_families')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('revoked_at', 'timestamptz')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await sql`
        INSERT INTO refresh_families (id, user_id, revoked_at, created_at)
        SELECT family_id, (array_agg(user_id))[1], max(revoked_at), min(created_at) FROM refresh_tokens GROUP BY family_id`.execute(db);
      await sql`ALTER TABLE refresh_tokens ADD CONSTRAINT refresh_tokens_family_fkey FOREIGN KEY (family_id) REFERENCES refresh_families (id) ON DELETE CASCADE`.execute(db);
      await db.schema.alterTable('refresh_tokens').dropColumn('revoked_at').execute();
    },
  },
  '004_sign_in_addresses': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('sign_in_addresses')
        .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('address_hash', 'text', (c) => c.notNull())
        .addColumn('last_seen_at', 'timestamptz', (c) => c.notNull())
        .addPrimaryKeyConstraint('sign_in_addresses_pkey', ['user_id', 'address_hash'])
        .execute();
    },
  },
  // The gateways ask every second for the families revoked lately (`revokedSince`): only revoked
  // ones are indexed, so the index stays as small as the revocations.
  '005_refresh_families_revoked_at': {
    async up(db: Kysely<any>) {
      await db.schema.createIndex('refresh_families_revoked_at').on('refresh_families').column('revoked_at').where('revoked_at', 'is not', null).execute();
    },
  },
  '200_ended_sessions': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('ended_sessions')
        .addColumn('session_id', 'uuid', (c) => c.primaryKey())
        .addColumn('revoked_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('ended_sessions_revoked_at').on('ended_sessions').column('revoked_at').execute();
    },
  },
};

/** Refresh tokens are random; only their SHA-256 is stored. */
function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/** An address as stored for one account: a hash, so the table holds no plain IP addresses. */
function hashAddress(userId: string, address: string): string {
  return createHash('sha256').update(`${userId}\n${address}`).digest('base64url');
}

/** Why a refresh token was refused. */
export type RefreshRefusal = 'unknown' | 'expired' | 'revoked' | 'reused';

/** A session's current refresh token, and the session (family) it belongs to, which its access tokens name. */
export interface SessionTokens {
  familyId: string;
  refreshToken: string;
}

/** A successful rotation: whose session it is, and its new refresh token. */
export interface Rotation extends SessionTokens {
  userId: string;
}

/** A revoked session (family), and when it was revoked. */
export interface RevokedFamily {
  familyId: string;
  revokedAt: Date;
}

/** Reads and writes sessions; `db` is the users subgraph's database (its tables include SessionTables). */
export class SessionStore {
  private readonly db: Kysely<SessionTables>;

  constructor(db: Kysely<any>) {
    this.db = db;
  }

  /** Starts a session family (a sign-in); returns it with its first refresh token. */
  async start(userId: string, ttlSeconds: number): Promise<SessionTokens> {
    return this.db.transaction().execute(async (tx) => {
      const family = await tx.insertInto('refresh_families').values({ id: randomUUID(), user_id: userId, created_at: new Date() }).returning('id').executeTakeFirstOrThrow();
      return { familyId: family.id, refreshToken: await issue(tx, userId, family.id, ttlSeconds) };
    });
  }

  /**
   * Uses a refresh token once, in one transaction holding its family's row: marks it used and
   * returns the next token of the family. A token used before is a stolen copy being replayed, so
   * the family is revoked (committed, and refused).
   */
  async rotate(token: string, ttlSeconds: number): Promise<Rotation | RefreshRefusal> {
    const tokenHash = hashToken(token);
    return this.db.transaction().execute(async (tx) => {
      const found = await tx.selectFrom('refresh_tokens').select('family_id').where('token_hash', '=', tokenHash).executeTakeFirst();
      if (!found) return 'unknown';
      const family = await tx.selectFrom('refresh_families').selectAll().where('id', '=', found.family_id).forUpdate().executeTakeFirstOrThrow();
      if (family.revoked_at) return 'revoked';
      // Read again now that the family is held: a rotation that held it first is visible.
      const row = await tx.selectFrom('refresh_tokens').select(['id', 'used_at', 'expires_at']).where('token_hash', '=', tokenHash).executeTakeFirstOrThrow();
      if (row.used_at) {
        await revokeFamily(tx, family.id);
        return 'reused';
      }
      if (row.expires_at.getTime() <= Date.now()) return 'expired';
      await tx.updateTable('refresh_tokens').set({ used_at: new Date() }).where('id', '=', row.id).execute();
      return { userId: family.user_id, familyId: family.id, refreshToken: await issue(tx, family.user_id, family.id, ttlSeconds) };
    });
  }

  /** Ends the session the token belongs to (waiting for a rotation holding it); false when the token is unknown. */
  async revokeByToken(token: string): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      const row = await tx.selectFrom('refresh_tokens').select('family_id').where('token_hash', '=', hashToken(token)).executeTakeFirst();
      if (!row) return false;
      await revokeFamily(tx, row.family_id);
      return true;
    });
  }

  /**
   * Ends every live session of the user (password change, logoutEverywhere, account deletion); `db`
   * may be a transaction doing more. Each family's row is held as its revocation is, so a rotation
   * under way finishes first and its new token goes with the family. Returns how many ended.
   */
  async revokeAllOf(userId: string, db: Kysely<any> = this.db): Promise<number> {
    const result = await (db as Kysely<SessionTables>)
      .updateTable('refresh_families')
      .set({ revoked_at: new Date() })
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** The families revoked at or after `since`, oldest first. */
  async revokedSince(since: Date): Promise<RevokedFamily[]> {
    const rows = await this.db
      .selectFrom('refresh_families')
      .select(['id', 'revoked_at'])
      .where('revoked_at', '>=', since)
      .unionAll(this.db.selectFrom('ended_sessions').select(['session_id as id', 'revoked_at']).where('revoked_at', '>=', since))
      .orderBy('revoked_at')
      .execute();
    return rows.map((row) => ({ familyId: row.id, revokedAt: row.revoked_at! }));
  }

  /**
   * Keeps the user's sessions as ended (their ids only) before the account and its families go, so
   * their access tokens stay refused; `db` is the transaction erasing the account.
   */
  async keepEnded(userId: string, db: Kysely<any>): Promise<void> {
    await sql`INSERT INTO ended_sessions (session_id, revoked_at)
      SELECT id, coalesce(revoked_at, now()) FROM refresh_families WHERE user_id = ${userId}
      ON CONFLICT (session_id) DO NOTHING`.execute(db);
  }

  /** Forgets ended sessions revoked before `before` (by then every access token they had has expired). */
  async sweepEnded(before: Date): Promise<void> {
    await this.db.deleteFrom('ended_sessions').where('revoked_at', '<', before).execute();
  }

  /** Whether the account signed in from `address` within KNOWN_ADDRESS_TTL_MS. */
  async isKnownAddress(userId: string, address: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('sign_in_addresses')
      .select('last_seen_at')
      .where('user_id', '=', userId)
      .where('address_hash', '=', hashAddress(userId, address))
      .where('last_seen_at', '>', new Date(Date.now() - KNOWN_ADDRESS_TTL_MS))
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Remembers a successful sign-in from `address`, keeping the account's KNOWN_ADDRESSES_PER_ACCOUNT most recent. */
  async rememberAddress(userId: string, address: string): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      // The server's clock, to the microsecond, so sign-ins in one millisecond still have an order.
      const now = sql<Date>`now()`;
      await tx
        .insertInto('sign_in_addresses')
        .values({ user_id: userId, address_hash: hashAddress(userId, address), last_seen_at: now })
        .onConflict((oc) => oc.columns(['user_id', 'address_hash']).doUpdateSet({ last_seen_at: now }))
        .execute();
      const kept = tx.selectFrom('sign_in_addresses').select('address_hash').where('user_id', '=', userId).orderBy('last_seen_at', 'desc').limit(KNOWN_ADDRESSES_PER_ACCOUNT);
      await tx.deleteFrom('sign_in_addresses').where('user_id', '=', userId).where('address_hash', 'not in', kept).execute();
    });
  }
}

/** A new refresh token of the family; returns the raw token (only its hash is stored). */
async function issue(tx: Transaction<SessionTables>, userId: string, familyId: string, ttlSeconds: number): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  await tx
    .insertInto('refresh_tokens')
    .values({ id: randomUUID(), user_id: userId, family_id: familyId, token_hash: hashToken(token), expires_at: new Date(Date.now() + ttlSeconds * 1000), created_at: new Date() })
    .execute();
  return token;
}

/** Revokes a family; the update waits for (and then follows) any rotation holding its row. */
async function revokeFamily(tx: Transaction<SessionTables>, familyId: string): Promise<void> {
  await tx.updateTable('refresh_families').set({ revoked_at: new Date() }).where('id', '=', familyId).where('revoked_at', 'is', null).execute();
}
