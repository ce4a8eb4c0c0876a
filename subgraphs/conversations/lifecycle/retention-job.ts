/**
 * Retention in the conversations subgraph (seed 003; periods from configuration): conversations
 * deleted longer ago than `deletedDays` are purged, in batches, one instance at a time. Their
 * messages are the messages subgraph's to purge (subgraphs/messages/lifecycle/retention.ts);
 * runRetention asks it, then purges here, and reports both.
 */
import { sql } from 'kysely';
import type { Config } from '@chat/shared/config';
import type { Database } from '@chat/shared/db';
import { exclusively, inBatches, RETENTION_BATCH, retentionCutoff } from '@chat/shared/retention';
import type { ConversationsTables } from '../store';

/** The advisory lock of the conversations subgraph's retention ("cnvr"). */
export const CONVERSATIONS_RETENTION_LOCK = 0x636e7672;

/** Runs the conversations subgraph's retention against its database. */
export class ConversationsRetention {
  constructor(
    private readonly database: Database<ConversationsTables>,
    private readonly periods: Config['retention'],
  ) {}

  /** The conversations purged at `now` (or counted, dry); undefined when another run holds the lock. */
  run(now: Date, dryRun: boolean): Promise<number | undefined> {
    const cutoff = retentionCutoff(now, this.periods.deletedDays);
    const db = this.database.db;
    return exclusively(this.database, CONVERSATIONS_RETENTION_LOCK, async () => {
      if (dryRun) {
        const { rows } = await sql<{ n: number }>`SELECT count(*) AS n FROM conversations WHERE deleted_at < ${cutoff}`.execute(db);
        return Number(rows[0]?.n ?? 0);
      }
      return inBatches(async () => {
        const result = await sql`DELETE FROM conversations WHERE id IN (
          SELECT id FROM conversations WHERE deleted_at < ${cutoff} LIMIT ${RETENTION_BATCH})`.execute(db);
        return Number(result.numAffectedRows ?? 0);
      });
    });
  }
}

