/**
 * Retention (seed 003): what every subgraph's purge job shares. Each subgraph purges the data it
 * owns (the conversations subgraph its conversations, the messages subgraph its messages), in
 * small batches (each a short statement, so no table is locked for long), one instance at a time.
 */
import { sql, type Kysely } from 'kysely';
import type { Logger } from './log';

/** Rows one purge statement deletes at most. */
export const RETENTION_BATCH = 500;

/** How often each instance tries the job (the lock lets one run at a time). */
export const RETENTION_INTERVAL_MS = 24 * 3600_000;

const DAY_MS = 24 * 3600_000;

/** The moment before which data kept `days` days is due at `now`. */
export function retentionCutoff(now: Date, days: number): Date {
  return new Date(now.getTime() - days * DAY_MS);
}

/**
 * Deletes by `batch` (a statement deleting at most RETENTION_BATCH rows, returning how many) until a
 * batch deletes fewer; returns the total.
 */
export async function inBatches(batch: () => Promise<number>): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await batch();
    total += deleted;
    if (deleted < RETENTION_BATCH) return total;
  }
}

/**
 * The locks taken in this process, by database: an embedded PGlite database has one connection, on
 * which the advisory lock is re-entrant, so its holders in this process are told apart here.
 */
const heldHere = new WeakMap<Kysely<any>, Set<number>>();

/**
 * Runs `work` unless another holder of `lockKey` runs it now, returning undefined then. On a server
 * the lock is PostgreSQL's session advisory lock (pg_try_advisory_lock), held on one connection
 * while `work` runs on any; an instance that dies releases it with its connection. Embedded PGlite
 * belongs to one process, whose own record (heldHere) keeps its runs apart.
 */
export async function exclusively<T>(database: { db: Kysely<any>; engine: 'pglite' | 'postgres' }, lockKey: number, work: () => Promise<T>): Promise<T | undefined> {
  const held = heldHere.get(database.db) ?? new Set<number>();
  heldHere.set(database.db, held);
  if (held.has(lockKey)) return undefined;
  held.add(lockKey);
  try {
    // PGlite's one connection cannot be held aside while `work` queries.
    if (database.engine === 'pglite') return await work();
    return await database.db.connection().execute(async (connection) => {
      const { rows } = await sql<{ locked: boolean }>`SELECT pg_try_advisory_lock(${lockKey}) AS locked`.execute(connection);
      if (!rows[0]?.locked) return undefined;
      try {
        return await work();
      } finally {
        await sql`SELECT pg_advisory_unlock(${lockKey})`.execute(connection);
      }
    });
  } finally {
    held.delete(lockKey);
  }
}

/** A job run every RETENTION_INTERVAL_MS until stopped (a missed day is caught up by the next run: it purges all that is due). */
export class DailyJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly name: string,
    private readonly run: () => Promise<unknown>,
    private readonly log: Logger,
    private readonly intervalMs = RETENTION_INTERVAL_MS,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  private tick(): void {
    if (this.running) return;
    this.running = this.run()
      .catch((err) => this.log.warn({ err, job: this.name }, 'a retention run failed; the next one retries'))
      .finally(() => (this.running = undefined));
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
