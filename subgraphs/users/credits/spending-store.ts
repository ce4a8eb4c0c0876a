/**
 * Spending limits: the most credits a user lets themself spend in a UTC day or calendar month.
 * What they spent is read from the ledger (HOLD, SETTLE and RELEASE rows since the period began,
 * so a hold still open counts whole), and the ledger checks it inside each hold's transaction.
 */
import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/** The period a limit counts over (the contract's SpendingPeriod). */
export type SpendingPeriod = 'DAY' | 'MONTH';

/** A user's limit as stored. */
export interface SpendingLimitRow {
  user_id: string;
  period: SpendingPeriod;
  credits: number;
  updated_at: Date;
}

/** A limit with what was spent in its current period. */
export interface SpendingLimitState {
  period: SpendingPeriod;
  credits: number;
  spent: number;
}

/** The table, and the ledger rows spending is read from. */
export interface SpendingTables {
  spending_limits: SpendingLimitRow;
  credit_ledger: { user_id: string; kind: string; amount: number; created_at: Date };
}

/** The ledger rows that take credits for replies and give them back. */
const SPENDING_KINDS = ['HOLD', 'SETTLE', 'RELEASE'];

export const spendingMigrations: Record<string, Migration> = {
  '400_spending_limits': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('spending_limits')
        .addColumn('user_id', 'uuid', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
        .addColumn('period', 'text', (c) => c.notNull().check(sql`period in ('DAY', 'MONTH')`))
        .addColumn('credits', 'integer', (c) => c.notNull().check(sql`credits >= 1`))
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .execute();
    },
  },
};

/** When the current `period` began, in UTC. */
export function periodStart(period: SpendingPeriod, now: Date): Date {
  return period === 'DAY'
    ? new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()))
    : new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
}

/**
 * The user's limit and what they spent in its current period, in one query; undefined without a
 * limit. `db` may be a transaction: the ledger asks inside a hold, after locking the user's row.
 */
export async function spendingOf(db: Kysely<any>, userId: string, now = new Date()): Promise<SpendingLimitState | undefined> {
  const tables = db as Kysely<SpendingTables>;
  const row = await tables
    .selectFrom('spending_limits as l')
    .select((eb) => [
      'l.period',
      'l.credits',
      eb
        .selectFrom('credit_ledger as c')
        .select(sql<string>`coalesce(-sum(c.amount), 0)`.as('spent'))
        .whereRef('c.user_id', '=', 'l.user_id')
        .where('c.kind', 'in', SPENDING_KINDS)
        .where(
          'c.created_at',
          '>=',
          sql<Date>`CASE WHEN l.period = 'DAY' THEN ${periodStart('DAY', now)}::timestamptz ELSE ${periodStart('MONTH', now)}::timestamptz END`,
        )
        .as('spent'),
    ])
    .where('l.user_id', '=', userId)
    .executeTakeFirst();
  // Credits held before the period began and given back in it count against nothing: never below zero.
  return row ? { period: row.period, credits: row.credits, spent: Math.max(0, Number(row.spent ?? 0)) } : undefined;
}

/** Sets and removes users' limits; `db` is the users subgraph's database. */
export class SpendingLimitStore {
  private readonly db: Kysely<SpendingTables>;

  constructor(db: Kysely<any>) {
    this.db = db;
  }

  /** Sets the user's limit (replacing theirs), or removes it with null. */
  async set(userId: string, limit: { period: SpendingPeriod; credits: number } | null): Promise<void> {
    if (!limit) {
      await this.db.deleteFrom('spending_limits').where('user_id', '=', userId).execute();
      return;
    }
    const row = { user_id: userId, period: limit.period, credits: limit.credits, updated_at: new Date() };
    await this.db
      .insertInto('spending_limits')
      .values(row)
      .onConflict((oc) => oc.column('user_id').doUpdateSet({ period: row.period, credits: row.credits, updated_at: row.updated_at }))
      .execute();
  }

  /** The user's limit and what they spent in its period; undefined without one. */
  of(userId: string, now = new Date()): Promise<SpendingLimitState | undefined> {
    return spendingOf(this.db, userId, now);
  }
}
