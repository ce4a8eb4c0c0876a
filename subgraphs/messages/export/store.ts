/** Reads a conversation's whole tree for export, and stores an imported one in a single transaction. */
import { DEFAULT_SEARCH_LANGUAGE } from '@chat/shared/search-languages';
import type { Db } from '../store/path';
import type { MessageRow } from '../store/rows';

/** Rows inserted per statement: well under PostgreSQL's 65,535 parameters at ~20 columns a row. */
const INSERT_CHUNK = 500;

/** A message as an import stores it (seq comes from its place in the list). */
export type ImportedRow = Omit<MessageRow, 'seq' | 'client_message_id' | 'hold_key' | 'credits_held' | 'credits' | 'continued_from' | 'deleted_at' | 'error' | 'first_token_ms'>;

export class ChatFiles {
  constructor(private readonly db: () => Db) {}

  /** Every message of the conversation that is not deleted, oldest first (a parent before its children). */
  async tree(conversationId: string): Promise<MessageRow[]> {
    const rows = await this.db().selectFrom('messages').selectAll().where('conversation_id', '=', conversationId).where('deleted_at', 'is', null).orderBy('seq').execute();
    // The search index's column is no part of a message.
    for (const row of rows) delete (row as Partial<{ search_vector: unknown }>).search_vector;
    return rows;
  }

  /** The new conversation's owner and its messages, in the order given, all or none; hidden (importing) until {@link imported}. */
  async storeImport(conversationId: string, ownerId: string, characterId: string, rows: readonly ImportedRow[]): Promise<void> {
    await this.db()
      .transaction()
      .execute(async (tx) => {
        await tx.insertInto('conversation_owners').values({ conversation_id: conversationId, user_id: ownerId, created_at: new Date(), character_id: characterId, search_config: DEFAULT_SEARCH_LANGUAGE, importing: true }).execute();
        for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
          // In list order, one statement a chunk: a parent's seq is below its children's.
          await tx.insertInto('messages').values(rows.slice(i, i + INSERT_CHUNK) as never).execute();
        }
      });
  }

  /** The conversations subgraph recorded the imported conversation: it is seen from now on. */
  async imported(conversationId: string): Promise<void> {
    await this.db().updateTable('conversation_owners').set({ importing: false }).where('conversation_id', '=', conversationId).execute();
  }
}
