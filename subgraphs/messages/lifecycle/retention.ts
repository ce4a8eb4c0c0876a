/**
 * The messages subgraph's retention (seed 003; the periods come from configuration): the messages
 * of conversations deleted longer ago than `deletedDays` (with the rest of what is kept of those
 * conversations here), messages deleted that long ago, and the messages of conversations archived
 * longer ago than `archivedDays`. In batches, one instance at a time.
 */
import { sql } from 'kysely';
import type { Config } from '@chat/shared/config';
import type { Database } from '@chat/shared/db';
import { exclusively, inBatches, RETENTION_BATCH, retentionCutoff } from '@chat/shared/retention';
import type { MessagesTables } from '../store/rows';

/** The advisory lock of the messages subgraph's retention ("msgr"). */
export const MESSAGES_RETENTION_LOCK = 0x6d736772;

/** What a run purged, or would purge (dry run); undefined when another instance was running it. */
export interface MessagesPurge {
  messagesPurged: number;
  conversationsPurged: number;
}

/** Runs the messages subgraph's retention against its database. */
export class MessagesRetention {
  constructor(
    private readonly database: Database<MessagesTables>,
    private readonly periods: Config['retention'],
  ) {}

  /** Purges what is due at `now` (or only counts it); undefined when another run holds the lock. */
  run(now: Date, dryRun: boolean): Promise<MessagesPurge | undefined> {
    return exclusively(this.database, MESSAGES_RETENTION_LOCK, () => (dryRun ? this.count(now) : this.purge(now)));
  }

  private cutoffs(now: Date) {
    return { deleted: retentionCutoff(now, this.periods.deletedDays), archived: retentionCutoff(now, this.periods.archivedDays) };
  }

  /** What purge(now) would delete (deleted messages with something kept under them included: at most that). */
  private async count(now: Date): Promise<MessagesPurge> {
    const { deleted, archived } = this.cutoffs(now);
    const db = this.database.db;
    const { rows } = await sql<{ messages: number; conversations: number }>`
      SELECT
        (SELECT count(*) FROM messages m JOIN conversation_owners o USING (conversation_id)
          WHERE o.deleted_at < ${deleted}
             OR (o.deleted_at IS NULL AND o.archived_at < ${archived})
             OR m.deleted_at < ${deleted}) AS messages,
        (SELECT count(*) FROM conversation_owners WHERE deleted_at < ${deleted}) AS conversations`.execute(db);
    return { messagesPurged: Number(rows[0]?.messages ?? 0), conversationsPurged: Number(rows[0]?.conversations ?? 0) };
  }

  private async purge(now: Date): Promise<MessagesPurge> {
    const { deleted, archived } = this.cutoffs(now);
    const db = this.database.db;
    const deleteBatch = async (query: ReturnType<typeof sql>) => Number((await query.execute(db)).numAffectedRows ?? 0);
    // Conversations deleted long enough ago: their messages, summaries, then the conversation itself.
    const ofDeleted = await inBatches(() =>
      deleteBatch(sql`DELETE FROM messages WHERE id IN (
        SELECT m.id FROM messages m JOIN conversation_owners o USING (conversation_id) WHERE o.deleted_at < ${deleted} LIMIT ${RETENTION_BATCH})`),
    );
    await inBatches(() =>
      deleteBatch(sql`DELETE FROM conversation_summaries WHERE conversation_id IN (
        SELECT conversation_id FROM conversation_owners WHERE deleted_at < ${deleted} LIMIT ${RETENTION_BATCH})`),
    );
    const conversations = await inBatches(() =>
      deleteBatch(sql`DELETE FROM conversation_owners WHERE conversation_id IN (
        SELECT conversation_id FROM conversation_owners WHERE deleted_at < ${deleted} LIMIT ${RETENTION_BATCH})`),
    );
    // Archived long enough ago: the messages (and their summary) go, the conversation stays, empty.
    const ofArchived = await inBatches(() =>
      deleteBatch(sql`DELETE FROM messages WHERE id IN (
        SELECT m.id FROM messages m JOIN conversation_owners o USING (conversation_id)
        WHERE o.deleted_at IS NULL AND o.archived_at < ${archived} LIMIT ${RETENTION_BATCH})`),
    );
    await sql`DELETE FROM conversation_summaries WHERE conversation_id IN (
      SELECT conversation_id FROM conversation_owners WHERE deleted_at IS NULL AND archived_at < ${archived})`.execute(db);
    // Messages deleted long enough ago, leaves first (a message goes once nothing hangs under it), so
    // each round may free their parents: rounds go on until one deletes nothing.
    const leaves = () =>
      deleteBatch(sql`DELETE FROM messages WHERE id IN (
        SELECT m.id FROM messages m WHERE m.deleted_at < ${deleted}
        AND NOT EXISTS (SELECT 1 FROM messages c WHERE c.parent_id = m.id)
        LIMIT ${RETENTION_BATCH})`);
    let deletedMessages = 0;
    let round: number;
    do {
      round = await inBatches(leaves);
      deletedMessages += round;
    } while (round > 0);
    return { messagesPurged: ofDeleted + ofArchived + deletedMessages, conversationsPurged: conversations };
  }
}
