/**
 * deleteAccount's saga, recorded durably: one row per step (each other subgraph's erasure, then the
 * users subgraph's own), each done once and retried until it is. The rows name the user only while
 * the erasure runs: the last step deletes them with the account.
 */
import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import { eraseRows, type TableErasure } from '@chat/shared/erasure';
import type { SessionStore } from '../auth/sessions';

/** The subgraphs whose step runs first, each on its own (their order does not matter). */
export const REMOTE_STEPS = ['messages', 'conversations', 'characters'] as const;
export type RemoteStep = (typeof REMOTE_STEPS)[number];
/** The users subgraph's own step: last, once every remote one is done. */
export const LOCAL_STEP = 'users';
export type ErasureStepName = RemoteStep | typeof LOCAL_STEP;

/** One step of one erasure. */
export interface ErasureStepRow {
  user_id: string;
  step: ErasureStepName;
  attempts: number;
  /** When the step may be tried (again); while one worker tries it, a lease keeps the others off. */
  next_attempt_at: Date;
  done_at: Date | null;
  /** Why the last attempt failed (the peer's message), for operators. */
  last_error: string | null;
  requested_at: Date;
}

/** The saga's table in the users subgraph's database. */
export interface SagaTables {
  erasure_steps: ErasureStepRow;
}

export const sagaMigrations: Record<string, Migration> = {
  '200_erasure_steps': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('erasure_steps')
        .addColumn('user_id', 'uuid', (c) => c.notNull())
        .addColumn('step', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'timestamptz', (c) => c.notNull())
        .addColumn('done_at', 'timestamptz')
        .addColumn('last_error', 'text')
        .addColumn('requested_at', 'timestamptz', (c) => c.notNull())
        .addPrimaryKeyConstraint('erasure_steps_pkey', ['user_id', 'step'])
        .execute();
      // Workers look for steps due: only the pending ones are indexed.
      await sql`CREATE INDEX erasure_steps_due ON erasure_steps (next_attempt_at) WHERE done_at IS NULL`.execute(db);
    },
  },
};

/** The password hash of an account being erased: no password verifies against it (auth/passwords.ts). */
export const ERASED_PASSWORD_HASH = 'erased';

/** Reads and writes erasures; `db` is the users subgraph's database. */
export class SagaStore {
  constructor(
    private readonly db: Kysely<any>,
    private readonly sessions: SessionStore,
  ) {}

  /**
   * Records the erasure (every step, once however many ask) and, in the same transaction, makes the
   * account unable to sign in: no password verifies, every session ends. False when there is no such user.
   */
  async begin(userId: string): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      const user = await tx.selectFrom('users').select('id').where('id', '=', userId).forUpdate().executeTakeFirst();
      if (!user) return false;
      const now = new Date();
      await tx
        .insertInto('erasure_steps')
        .values([...REMOTE_STEPS, LOCAL_STEP].map((step) => ({ user_id: userId, step, attempts: 0, next_attempt_at: now, requested_at: now })))
        .onConflict((oc) => oc.columns(['user_id', 'step']).doNothing())
        .execute();
      await tx.updateTable('users').set({ password_hash: ERASED_PASSWORD_HASH }).where('id', '=', userId).execute();
      await this.sessions.revokeAllOf(userId, tx);
      return true;
    });
  }

  /**
   * Claims up to `limit` remote steps due at `now`: each gets a lease (tried again after `leaseMs`
   * should this worker die) and one more attempt, so two workers never run one step at once.
   */
  async claimDue(now: Date, leaseMs: number, limit: number): Promise<ErasureStepRow[]> {
    const result = await sql<ErasureStepRow>`
      UPDATE erasure_steps SET next_attempt_at = ${new Date(now.getTime() + leaseMs)}, attempts = attempts + 1
      WHERE (user_id, step) IN (
        SELECT user_id, step FROM erasure_steps
        WHERE done_at IS NULL AND step <> ${LOCAL_STEP} AND next_attempt_at <= ${now}
        ORDER BY next_attempt_at LIMIT ${limit} FOR UPDATE SKIP LOCKED)
      RETURNING *`.execute(this.db);
    return result.rows;
  }

  async markDone(userId: string, step: ErasureStepName): Promise<void> {
    await this.db.updateTable('erasure_steps').set({ done_at: new Date(), last_error: null }).where('user_id', '=', userId).where('step', '=', step).execute();
  }

  async markFailed(userId: string, step: ErasureStepName, retryAt: Date, error: string): Promise<void> {
    await this.db.updateTable('erasure_steps').set({ next_attempt_at: retryAt, last_error: error }).where('user_id', '=', userId).where('step', '=', step).where('done_at', 'is', null).execute();
  }

  /** Users whose every remote step is done, their own step still to run. */
  async readyToFinish(limit: number): Promise<string[]> {
    const rows = await sql<{ user_id: string }>`
      SELECT user_id FROM erasure_steps WHERE step = ${LOCAL_STEP} AND done_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM erasure_steps r WHERE r.user_id = erasure_steps.user_id AND r.step <> ${LOCAL_STEP} AND r.done_at IS NULL)
      LIMIT ${limit}`.execute(this.db);
    return rows.rows.map((row) => row.user_id);
  }

  /**
   * The last step, in one transaction holding the account's row: its sessions kept as ended (ids
   * only), every row of `erasures`, then the saga's own rows. Returns the account's email (for what
   * else names it), or undefined when another worker finished it first.
   */
  async finish(userId: string, erasures: readonly TableErasure[]): Promise<string | undefined> {
    return this.db.transaction().execute(async (tx) => {
      const user = await tx.selectFrom('users').select('email').where('id', '=', userId).forUpdate().executeTakeFirst();
      const pending = await tx.selectFrom('erasure_steps').select('step').where('user_id', '=', userId).where('done_at', 'is', null).where('step', '<>', LOCAL_STEP).execute();
      if (pending.length > 0) return undefined;
      await this.sessions.keepEnded(userId, tx);
      await eraseRows(tx, userId, erasures);
      await tx.deleteFrom('erasure_steps').where('user_id', '=', userId).execute();
      return user?.email;
    });
  }

  /** How many erasures are still running (every user with a step left). */
  async pendingCount(): Promise<number> {
    const result = await sql<{ n: number }>`SELECT count(DISTINCT user_id) AS n FROM erasure_steps`.execute(this.db);
    return Number(result.rows[0]?.n ?? 0);
  }

  /** The steps of the user's erasure, as they stand (empty once it is finished). */
  stepsOf(userId: string): Promise<ErasureStepRow[]> {
    return this.db.selectFrom('erasure_steps').selectAll().where('user_id', '=', userId).orderBy('step').execute() as Promise<ErasureStepRow[]>;
  }
}
