/**
 * The credits ledger: every movement of a user's credits is one append-only row, written in the
 * same transaction as the balance it moves, so the sum of a user's rows is their balance, always.
 *
 * A reply's credits are held when it is asked for (the most it can cost, refused when the balance
 * cannot cover it) and settled when it ends, however it ends: the difference between the hold
 * and what the reply used goes back. Every row has an idempotency key, unique, so a retried hold,
 * settlement or grant is a no-op that answers what the first one did.
 *
 * A user's spending limit (spending-store.ts) is checked in the hold's transaction too, once the
 * balance update has locked their row: concurrent holds are checked one after another.
 */
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { Database } from '@chat/shared/db';
import type { PageWindow } from '@chat/shared/pagination';
import { isUuid } from '@chat/shared/validate';
import { spendingOf } from './spending-store';

/** What moved a balance (the contract's CreditEntryKind). */
export type CreditEntryKind = 'INITIAL' | 'GRANT' | 'HOLD' | 'SETTLE' | 'RELEASE' | 'REFILL';
export const CREDIT_ENTRY_KINDS: readonly CreditEntryKind[] = ['INITIAL', 'GRANT', 'HOLD', 'SETTLE', 'RELEASE', 'REFILL'];

/** The most credits one balance may hold: it stays within PostgreSQL's integer, with room to spare. */
export const MAX_BALANCE = 2_000_000_000;

/**
 * A hold still open after this long is released: its reply was never stored (the messages service
 * stopped between holding and storing it), as every stored reply ends and settles well before.
 */
export const HOLD_EXPIRY_MS = 60 * 60_000;

/** Idempotency keys of a reply's hold and of its one ending (a settlement or a release, never both). */
export const holdKeyOf = (key: string) => `hold:${key}`;
export const endKeyOf = (key: string) => `end:${key}`;

/** One movement of credits, as stored. */
export interface CreditEntryRow {
  id: string;
  user_id: string;
  kind: CreditEntryKind;
  /** Credits added (positive) or taken (negative). */
  amount: number;
  balance_after: number;
  reply_id: string | null;
  reason: string;
  idempotency_key: string;
  created_at: Date;
}

/** The tables the ledger writes: the balances and their movements. */
export interface LedgerTables {
  users: { id: string; credits: number };
  credit_ledger: CreditEntryRow;
  credit_refills: CreditRefillRow;
}

/**
 * Gives the ledger of the first release (user, amount, reason, key) a kind, a reply and the
 * balance after each row, and makes a balance below zero impossible. Balances a bug once drove
 * below zero are brought back to zero by a GRANT row, so the ledger still sums to the balance.
 */
export const ledgerMigrations: Record<string, Migration> = {
  '002_credit_holds': {
    async up(db: Kysely<any>) {
      await db.schema
        .alterTable('credit_ledger')
        .addColumn('kind', 'text', (c) => c.notNull().defaultTo('GRANT').check(sql`kind in ('INITIAL', 'GRANT', 'HOLD', 'SETTLE', 'RELEASE', 'REFILL')`))
        .execute();
      await db.schema.alterTable('credit_ledger').addColumn('balance_after', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('credit_ledger').addColumn('reply_id', 'uuid').execute();
      await sql`UPDATE credit_ledger SET kind = CASE WHEN idempotency_key LIKE 'opening:%' THEN 'INITIAL' WHEN amount < 0 THEN 'SETTLE' ELSE 'GRANT' END`.execute(db);
      await sql`
        INSERT INTO credit_ledger (id, user_id, amount, reason, idempotency_key, created_at, kind)
        SELECT gen_random_uuid(), id, -credits, 'negative balance forgiven', 'forgiven:' || id::text, now(), 'GRANT' FROM users WHERE credits < 0`.execute(db);
      await sql`UPDATE users SET credits = 0 WHERE credits < 0`.execute(db);
      await sql`
        UPDATE credit_ledger l SET balance_after = s.running
        FROM (SELECT id, sum(amount) OVER (PARTITION BY user_id ORDER BY created_at, id) AS running FROM credit_ledger) s
        WHERE s.id = l.id`.execute(db);
      await sql`ALTER TABLE users ADD CONSTRAINT users_credits_not_negative CHECK (credits >= 0 AND credits <= ${sql.lit(MAX_BALANCE)})`.execute(db);
      await sql`CREATE INDEX credit_ledger_by_user ON credit_ledger (user_id, created_at, id)`.execute(db);
    },
  },
  // One row per refilled interval: claiming it in the refill's transaction makes one instance refill.
  '400_credit_refills': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('credit_refills')
        .addColumn('interval_ms', 'bigint', (c) => c.notNull())
        .addColumn('interval_number', 'bigint', (c) => c.notNull())
        .addColumn('amount', 'integer', (c) => c.notNull())
        .addColumn('users_refilled', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addPrimaryKeyConstraint('credit_refills_pk', ['interval_ms', 'interval_number'])
        .execute();
    },
  },
};

/** A claimed refill interval, as stored. */
export interface CreditRefillRow {
  interval_ms: number;
  interval_number: number;
  amount: number;
  users_refilled: number;
  created_at: Date;
}

/** Why a hold was refused (the contract's internal CreditRefusal). */
export type CreditRefusal = 'BALANCE' | 'SPENDING_LIMIT';

/** How a hold went: taken (or taken before, for a retry), or refused with the balance there is. */
export type HoldOutcome = { held: true; entry: CreditEntryRow } | { held: false; balance: number; refusedBy: CreditRefusal };

/** Thrown inside a transaction to roll it back when a concurrent twin has already written its row. */
class AlreadyRecorded extends Error {}

/** Thrown inside a hold's transaction to roll the balance back when the user's spending limit refuses it. */
class OverSpendingLimit extends Error {
  constructor(readonly balance: number) {
    super('over the spending limit');
  }
}

/** Holds, settles and grants credits, each in one transaction with its ledger row. */
export class CreditLedger {
  private readonly db: Kysely<LedgerTables>;

  /** `database` is the users subgraph's own: the ledger reads only its two tables of it. */
  constructor(database: Pick<Database<any>, 'db'>) {
    this.db = database.db as Kysely<LedgerTables>;
  }

  /**
   * Takes `amount` credits from the user for a reply, once per `key`; refused (nothing written)
   * when the balance is below it, or when it would take what they spent in their spending limit's
   * period past the limit. The conditional update is what makes concurrent holds safe: it locks the
   * user's row until commit, so the spending read after it counts every hold committed before.
   */
  async hold(input: { userId: string; key: string; replyId: string; amount: number; reason: string }): Promise<HoldOutcome> {
    const key = holdKeyOf(input.key);
    const earlier = await this.byKey(key);
    if (earlier) return { held: true, entry: earlier };
    try {
      return await this.db.transaction().execute(async (tx) => {
        const taken = await tx
          .updateTable('users')
          .set((eb) => ({ credits: eb('credits', '-', input.amount) }))
          .where('id', '=', input.userId)
          .where('credits', '>=', input.amount)
          .returning('credits')
          .executeTakeFirst();
        if (!taken) {
          const user = await tx.selectFrom('users').select('credits').where('id', '=', input.userId).executeTakeFirst();
          return { held: false as const, balance: user?.credits ?? 0, refusedBy: 'BALANCE' as const };
        }
        const limit = await spendingOf(tx, input.userId);
        if (limit && limit.spent + input.amount > limit.credits) throw new OverSpendingLimit(taken.credits + input.amount);
        const entry = await record(tx, { user_id: input.userId, kind: 'HOLD', amount: -input.amount, balance_after: taken.credits, reply_id: input.replyId, reason: input.reason, idempotency_key: key });
        return { held: true as const, entry };
      });
    } catch (error) {
      if (error instanceof OverSpendingLimit) return { held: false, balance: error.balance, refusedBy: 'SPENDING_LIMIT' };
      if (!(error instanceof AlreadyRecorded)) throw error;
      return { held: true, entry: (await this.byKey(key))! };
    }
  }

  /**
   * Ends a hold: `used` credits (at most the hold) stay spent and the rest goes back, as one
   * SETTLE row (or RELEASE when nothing was used). Once per hold; undefined when there is none.
   */
  async settle(key: string, used: number, reason: string): Promise<CreditEntryRow | undefined> {
    const hold = await this.byKey(holdKeyOf(key));
    if (!hold) return undefined;
    const endKey = endKeyOf(key);
    const earlier = await this.byKey(endKey);
    if (earlier) return earlier;
    const held = -hold.amount;
    const spent = Math.min(held, Math.max(0, Math.ceil(used)));
    try {
      return await this.db.transaction().execute(async (tx) => {
        const user = await tx
          .updateTable('users')
          .set((eb) => ({ credits: eb('credits', '+', held - spent) }))
          .where('id', '=', hold.user_id)
          .returning('credits')
          .executeTakeFirst();
        // The account is gone (erased): nothing to give back to.
        if (!user) return undefined;
        return record(tx, {
          user_id: hold.user_id,
          kind: spent === 0 ? 'RELEASE' : 'SETTLE',
          amount: held - spent,
          balance_after: user.credits,
          reply_id: hold.reply_id,
          reason,
          idempotency_key: endKey,
        });
      });
    } catch (error) {
      if (!(error instanceof AlreadyRecorded)) throw error;
      return this.byKey(endKey);
    }
  }

  /** Adds credits (an admin's grant, or a scheduled refill), once per `key`; undefined past MAX_BALANCE or for no such user. */
  async grant(input: { userId: string; amount: number; reason: string; key: string; kind: 'GRANT' | 'REFILL' }): Promise<CreditEntryRow | undefined> {
    const earlier = await this.byKey(input.key);
    if (earlier) return earlier;
    try {
      return await this.db.transaction().execute(async (tx) => {
        const user = await tx
          .updateTable('users')
          .set((eb) => ({ credits: eb('credits', '+', input.amount) }))
          .where('id', '=', input.userId)
          .where('credits', '<=', MAX_BALANCE - input.amount)
          .returning('credits')
          .executeTakeFirst();
        if (!user) return undefined;
        return record(tx, { user_id: input.userId, kind: input.kind, amount: input.amount, balance_after: user.credits, reply_id: null, reason: input.reason, idempotency_key: input.key });
      });
    } catch (error) {
      if (!(error instanceof AlreadyRecorded)) throw error;
      return this.byKey(input.key);
    }
  }

  /**
   * The scheduled refill of interval `intervalNumber` (of `intervalMs`): `amount` credits to every
   * user, each with a REFILL row, once across every instance. The interval's row is claimed in the
   * same transaction as the refill (INSERT ... ON CONFLICT DO NOTHING), so a second instance finds
   * it taken, or waits for the first to commit and then finds it. Set-based: one statement moves
   * every balance and writes every row. A user the refill would take past MAX_BALANCE is skipped.
   * Answers how many users were refilled, or undefined when the interval was refilled already.
   */
  async refill(input: { intervalMs: number; intervalNumber: number; amount: number }): Promise<number | undefined> {
    const { intervalMs, intervalNumber, amount } = input;
    return this.db.transaction().execute(async (tx) => {
      const claimed = await tx
        .insertInto('credit_refills')
        .values({ interval_ms: intervalMs, interval_number: intervalNumber, amount, users_refilled: 0, created_at: new Date() })
        .onConflict((oc) => oc.columns(['interval_ms', 'interval_number']).doNothing())
        .returning('interval_number')
        .executeTakeFirst();
      if (!claimed) return undefined;
      const reason = `scheduled refill ${intervalNumber}`;
      const { rows } = await sql<{ refilled: string }>`
        WITH moved AS (
          UPDATE users SET credits = credits + ${amount}
          WHERE credits <= ${MAX_BALANCE - amount}
          RETURNING id, credits
        ), recorded AS (
          INSERT INTO credit_ledger (id, user_id, kind, amount, balance_after, reply_id, reason, idempotency_key, created_at)
          SELECT gen_random_uuid(), id, 'REFILL', ${amount}, credits, NULL, ${reason}, ${`refill:${intervalMs}:${intervalNumber}:`} || id::text, ${new Date()}::timestamptz
          FROM moved
          RETURNING 1
        )
        SELECT count(*) AS refilled FROM recorded`.execute(tx);
      const refilled = Number(rows[0].refilled);
      await tx
        .updateTable('credit_refills')
        .set({ users_refilled: refilled })
        .where('interval_ms', '=', intervalMs)
        .where('interval_number', '=', intervalNumber)
        .execute();
      return refilled;
    });
  }

  /** Releases the holds older than `maxAgeMs` that never ended; the number released. */
  async releaseExpired(maxAgeMs = HOLD_EXPIRY_MS): Promise<number> {
    const stale = await this.db
      .selectFrom('credit_ledger as hold')
      .select('hold.idempotency_key')
      .where('hold.kind', '=', 'HOLD')
      .where('hold.created_at', '<', new Date(Date.now() - maxAgeMs))
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom('credit_ledger as ending').select('ending.id').whereRef('ending.idempotency_key', '=', sql<string>`'end:' || substr(hold.idempotency_key, 6)`))),
      )
      .limit(1_000)
      .execute();
    let released = 0;
    for (const { idempotency_key } of stale) {
      if (await this.settle(idempotency_key.slice('hold:'.length), 0, 'hold expired: its reply was never stored')) released += 1;
    }
    return released;
  }

  /** One page of a user's movements, newest first, limit + 1 rows (cursor: [created_at, id]). */
  page(userId: string, window: PageWindow): Promise<CreditEntryRow[]> {
    let query = this.db.selectFrom('credit_ledger').selectAll().where('user_id', '=', userId);
    if (window.cursor) {
      const [at, id] = window.cursor;
      query = query.where((eb) => eb.or([eb('created_at', '<', new Date(at)), eb.and([eb('created_at', '=', new Date(at)), eb('id', '<', String(id))])]));
    }
    return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(window.limit + 1).execute();
  }

  /** The sum of a user's movements: equal to their balance, always (tests check it). */
  async sum(userId: string): Promise<number> {
    if (!isUuid(userId)) return 0;
    const row = await this.db
      .selectFrom('credit_ledger')
      .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('amount'), eb.lit(0)).as('total'))
      .where('user_id', '=', userId)
      .executeTakeFirstOrThrow();
    return Number(row.total);
  }

  private byKey(key: string): Promise<CreditEntryRow | undefined> {
    return this.db.selectFrom('credit_ledger').selectAll().where('idempotency_key', '=', key).executeTakeFirst();
  }
}

/** Appends a row; a row with the same key written meanwhile rolls the whole transaction back. */
async function record(tx: Transaction<LedgerTables>, row: Omit<CreditEntryRow, 'id' | 'created_at'>): Promise<CreditEntryRow> {
  const entry = await tx
    .insertInto('credit_ledger')
    .values({ ...row, id: randomUUID(), created_at: new Date() })
    .onConflict((oc) => oc.column('idempotency_key').doNothing())
    .returningAll()
    .executeTakeFirst();
  if (!entry) throw new AlreadyRecorded();
  return entry;
}

/** The cursor of a ledger row: its time and id. */
export const ledgerCursor = (row: CreditEntryRow): Array<string | number> => [row.created_at.toISOString(), row.id];
