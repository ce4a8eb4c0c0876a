import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { Database } from '@chat/shared/db';
import type { CursorKey, PageWindow } from '@chat/shared/pagination';
import { isUuid } from '@chat/shared/validate';

/** A message as stored. */
export interface MessageRow {
  id: string;
  /** Insertion order within the whole store: messages read oldest first by it. */
  seq: number;
  conversation_id: string;
  role: 'USER' | 'ASSISTANT' | 'SYSTEM';
  content: string;
  status: 'PENDING' | 'STREAMING' | 'COMPLETED' | 'FAILED' | 'CANCELLED';
  author_id: string | null;
  client_message_id: string | null;
  model: string | null;
  provider: string | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  total_tokens: number | null;
  finish_reason: string | null;
  latency_ms: number | null;
  error: string | null;
  created_at: Date;
  completed_at: Date | null;
}

/** Who owns a conversation: learned once, when its first message is stored, so access checks stay local. */
export interface ConversationOwnerRow {
  conversation_id: string;
  user_id: string;
  created_at: Date;
}

/** References to entities other subgraphs own. */
export interface UserRef {
  id: string;
}
export interface ConversationRef {
  id: string;
}

/** The messages subgraph's tables. */
export interface MessagesTables {
  messages: MessageRow;
  conversation_owners: ConversationOwnerRow;
}

export const migrations: Record<string, Migration> = {
  '001_messages': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('conversation_owners')
        .addColumn('conversation_id', 'uuid', (c) => c.primaryKey())
        .addColumn('user_id', 'uuid', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('messages')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('seq', 'bigserial', (c) => c.notNull().unique())
        .addColumn('conversation_id', 'uuid', (c) => c.notNull().references('conversation_owners.conversation_id'))
        .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('USER', 'ASSISTANT', 'SYSTEM')`))
        .addColumn('content', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('PENDING', 'STREAMING', 'COMPLETED', 'FAILED', 'CANCELLED')`))
        .addColumn('author_id', 'uuid')
        .addColumn('client_message_id', 'text')
        .addColumn('model', 'text')
        .addColumn('provider', 'text')
        .addColumn('prompt_tokens', 'integer')
        .addColumn('completion_tokens', 'integer')
        .addColumn('total_tokens', 'integer')
        .addColumn('finish_reason', 'text')
        .addColumn('latency_ms', 'integer')
        .addColumn('error', 'text')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('completed_at', 'timestamptz')
        .execute();
      await sql`CREATE INDEX messages_by_conversation ON messages (conversation_id, seq)`.execute(db);
      // The same clientMessageId twice in one conversation is one message.
      await sql`CREATE UNIQUE INDEX messages_client_id ON messages (conversation_id, client_message_id) WHERE client_message_id IS NOT NULL`.execute(db);
    },
  },
};

/** Reads and writes messages. */
export class MessagesStore {
  constructor(private readonly database: Database<MessagesTables>) {}

  private get db() {
    return this.database.db;
  }

  byIds(ids: readonly string[]): Promise<MessageRow[]> {
    const valid = ids.filter(isUuid);
    if (valid.length === 0) return Promise.resolve([]);
    return this.db.selectFrom('messages').selectAll().where('id', 'in', valid).execute();
  }

  ownersOf(conversationIds: readonly string[]): Promise<ConversationOwnerRow[]> {
    const valid = conversationIds.filter(isUuid);
    if (valid.length === 0) return Promise.resolve([]);
    return this.db.selectFrom('conversation_owners').selectAll().where('conversation_id', 'in', valid).execute();
  }

  /** The newest message of each conversation, in one query. */
  lastOf(conversationIds: readonly string[]): Promise<MessageRow[]> {
    const valid = conversationIds.filter(isUuid);
    if (valid.length === 0) return Promise.resolve([]);
    return this.db
      .selectFrom('messages')
      .selectAll()
      .distinctOn('conversation_id')
      .where('conversation_id', 'in', valid)
      .orderBy('conversation_id')
      .orderBy('seq', 'desc')
      .execute();
  }

  /** How many messages each conversation holds, in one query. */
  countsOf(conversationIds: readonly string[]): Promise<Array<{ conversation_id: string; count: number }>> {
    const valid = conversationIds.filter(isUuid);
    if (valid.length === 0) return Promise.resolve([]);
    return this.db
      .selectFrom('messages')
      .select(['conversation_id', (eb) => eb.fn.countAll<number>().as('count')])
      .where('conversation_id', 'in', valid)
      .groupBy('conversation_id')
      .execute()
      .then((rows) => rows.map((r) => ({ conversation_id: r.conversation_id, count: Number(r.count) })));
  }

  /** One page of a conversation's messages in the window's direction, limit + 1 rows. */
  page(conversationId: string, window: PageWindow): Promise<MessageRow[]> {
    let query = this.db.selectFrom('messages').selectAll().where('conversation_id', '=', conversationId);
    const forward = window.direction === 'forward';
    if (window.cursor) query = query.where('seq', forward ? '>' : '<', Number(window.cursor[0]));
    return query.orderBy('seq', forward ? 'asc' : 'desc').limit(window.limit + 1).execute();
  }

  /**
   * Remembers who owns a new conversation and stores its greeting as its first message,
   * once: a repeated call returns the greeting stored the first time.
   */
  async recordStart(conversationId: string, ownerId: string, greeting: string): Promise<MessageRow> {
    return this.db.transaction().execute(async (tx) => {
      const now = new Date();
      await tx
        .insertInto('conversation_owners')
        .values({ conversation_id: conversationId, user_id: ownerId, created_at: now })
        .onConflict((oc) => oc.column('conversation_id').doNothing())
        .execute();
      const existing = await tx.selectFrom('messages').selectAll().where('conversation_id', '=', conversationId).orderBy('seq').limit(1).executeTakeFirst();
      if (existing) return existing;
      return tx
        .insertInto('messages')
        .values({
          id: randomUUID(),
          conversation_id: conversationId,
          role: 'ASSISTANT',
          content: greeting,
          status: 'COMPLETED',
          created_at: now,
          completed_at: now,
          finish_reason: 'greeting',
        } as never)
        .returningAll()
        .executeTakeFirstOrThrow();
    });
  }
}

/** The cursor key of a message: its place in insertion order. */
export const messageCursor = (row: MessageRow): CursorKey => [Number(row.seq)];
