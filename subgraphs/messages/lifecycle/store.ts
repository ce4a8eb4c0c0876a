/**
 * The messages subgraph's part of a conversation's life: the copy of its state the conversations
 * subgraph keeps here (deleted, archived), and what retention and erasure remove.
 */
import { eraseRows, type TableErasure } from '@chat/shared/erasure';
import type { Db } from '../store/path';

/** A conversation's state as its owner (the conversations subgraph) reports it. */
export interface ConversationState {
  deletedAt: Date | null;
  archivedAt: Date | null;
}

/** Reads and writes the lifecycle of conversations' messages; `db` is the messages subgraph's database. */
export class LifecycleStore {
  constructor(private readonly db: () => Db) {}

  /** Records the conversation's state; false when no conversation has that id here. */
  async setState(conversationId: string, state: ConversationState): Promise<boolean> {
    const result = await this.db()
      .updateTable('conversation_owners')
      .set({ deleted_at: state.deletedAt, archived_at: state.archivedAt })
      .where('conversation_id', '=', conversationId)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** The ids of the user's conversations. */
  async conversationsOf(userId: string): Promise<string[]> {
    const rows = await this.db().selectFrom('conversation_owners').select('conversation_id').where('user_id', '=', userId).execute();
    return rows.map((row) => row.conversation_id);
  }

  /** Deletes the user's rows from each table in order, in one transaction (erasure.ts lists them). */
  erase(userId: string, erasures: readonly TableErasure[]): Promise<Record<string, number>> {
    return this.db().transaction().execute((tx) => eraseRows(tx, userId, erasures));
  }
}
