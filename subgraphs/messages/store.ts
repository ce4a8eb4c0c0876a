import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { Database } from '@chat/shared/db';
import type { CursorKey, PageWindow } from '@chat/shared/pagination';
import { isUuid } from '@chat/shared/validate';
import type { ModerationFlag } from './moderation/moderate';

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
  /** On a reply: the user message it answers. */
  reply_to: string | null;
  /** On a regenerated reply: the reply that took its place (hidden from lists and prompts). */
  replaced_by: string | null;
  /** What the content pipeline flagged on a user message (moderation/moderate.ts). */
  moderation_flags: ModerationFlag[];
  /** On a reply: the key of the credits held for it in the users subgraph, and how many. */
  hold_key: string | null;
  credits_held: number | null;
  /** On an ended reply: the credits it cost (what it used, at most its hold). */
  credits: number | null;
}

/** What an ended reply owes the users subgraph, kept until the users subgraph has settled it (replies/settlements.ts). */
export interface SettlementRow {
  hold_key: string;
  user_id: string;
  reply_id: string;
  /** Credits the reply used; the rest of its hold goes back. */
  used: number;
  reason: string;
  attempts: number;
  next_attempt_at: Date;
  created_at: Date;
}

/** Which moderation flags refuse a message rather than only flag it (one row, set by admins). */
export interface ModerationPolicyRow {
  id: number;
  refuse: ModerationFlag[];
  updated_at: Date;
}

/** A running summary of the history that fell out of a large context window. */
export interface SummaryRow {
  conversation_id: string;
  summary: string;
  /** How many of the oldest messages the summary covers. */
  covered_messages: number;
  updated_at: Date;
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
  conversation_summaries: SummaryRow;
  moderation_policy: ModerationPolicyRow;
  credit_settlements: SettlementRow;
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
  '002_replies': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('messages').addColumn('reply_to', 'uuid').execute();
      await db.schema.alterTable('messages').addColumn('replaced_by', 'uuid').execute();
      await db.schema
        .createTable('conversation_summaries')
        .addColumn('conversation_id', 'uuid', (c) => c.primaryKey())
        .addColumn('summary', 'text', (c) => c.notNull())
        .addColumn('covered_messages', 'integer', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .execute();
      // Lists, counts and prompts read only the messages still in place.
      await sql`CREATE INDEX messages_in_place ON messages (conversation_id, seq) WHERE replaced_by IS NULL`.execute(db);
    },
  },
  '003_moderation': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('messages').addColumn('moderation_flags', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`)).execute();
      await db.schema
        .createTable('moderation_policy')
        .addColumn('id', 'integer', (c) => c.primaryKey().check(sql`id = 1`))
        .addColumn('refuse', sql`text[]`, (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .execute();
    },
  },
  '004_credit_holds': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('messages').addColumn('hold_key', 'text').execute();
      await db.schema.alterTable('messages').addColumn('credits_held', 'integer').execute();
      await db.schema.alterTable('messages').addColumn('credits', 'integer').execute();
      // The outbox of settlements: written with the reply's end, drained until the users subgraph has taken each.
      await db.schema
        .createTable('credit_settlements')
        .addColumn('hold_key', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'uuid', (c) => c.notNull())
        .addColumn('reply_id', 'uuid', (c) => c.notNull())
        .addColumn('used', 'integer', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'timestamptz', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await sql`CREATE INDEX credit_settlements_due ON credit_settlements (next_attempt_at)`.execute(db);
    },
  },
};

/** Credits held for a new reply: the key the users subgraph holds them under, and how many. */
export interface ReplyHold {
  replyId: string;
  holdKey: string;
  creditsHeld: number;
}

/** Reply states that are still going; the others are final. */
export const OPEN_STATUSES = ['PENDING', 'STREAMING'] as const;

/** What a finished reply stores. */
export type ReplyOutcome = Pick<
  MessageRow,
  'status' | 'content' | 'model' | 'provider' | 'prompt_tokens' | 'completion_tokens' | 'total_tokens' | 'finish_reason' | 'latency_ms' | 'error'
>;

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
      .where('replaced_by', 'is', null)
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
      .where('replaced_by', 'is', null)
      .groupBy('conversation_id')
      .execute()
      .then((rows) => rows.map((r) => ({ conversation_id: r.conversation_id, count: Number(r.count) })));
  }

  /** One page of a conversation's messages in the window's direction, limit + 1 rows. */
  page(conversationId: string, window: PageWindow): Promise<MessageRow[]> {
    let query = this.db.selectFrom('messages').selectAll().where('conversation_id', '=', conversationId).where('replaced_by', 'is', null);
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
      const existing = await firstMessage(tx, conversationId);
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

  /** A conversation's first message (its greeting), once it has started. */
  opening(conversationId: string): Promise<MessageRow | undefined> {
    if (!isUuid(conversationId)) return Promise.resolve(undefined);
    return firstMessage(this.db, conversationId);
  }

  // Live chat: exchanges, replies as they stream, summaries.

  byId(id: string): Promise<MessageRow | undefined> {
    if (!isUuid(id)) return Promise.resolve(undefined);
    return this.db.selectFrom('messages').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** The user message sent with this clientMessageId, and its current reply. */
  async exchangeByClientId(conversationId: string, clientMessageId: string): Promise<{ message: MessageRow; reply: MessageRow } | undefined> {
    const message = await this.db
      .selectFrom('messages')
      .selectAll()
      .where('conversation_id', '=', conversationId)
      .where('client_message_id', '=', clientMessageId)
      .executeTakeFirst();
    if (!message) return undefined;
    const reply = await this.db
      .selectFrom('messages')
      .selectAll()
      .where('reply_to', '=', message.id)
      .where('replaced_by', 'is', null)
      .executeTakeFirst();
    return reply ? { message, reply } : undefined;
  }

  /** A conversation's message count and reply tokens, for its statistics. */
  async totals(conversationId: string): Promise<{ messageCount: number; totalTokens: number }> {
    const row = await this.db
      .selectFrom('messages')
      .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.coalesce(eb.fn.sum<number>('total_tokens'), eb.lit(0)).as('tokens')])
      .where('conversation_id', '=', conversationId)
      .where('replaced_by', 'is', null)
      .executeTakeFirstOrThrow();
    return { messageCount: Number(row.n), totalTokens: Number(row.tokens) };
  }

  /** Messages in place in a conversation (replaced replies are not). */
  async countInPlace(conversationId: string): Promise<number> {
    const row = await this.db
      .selectFrom('messages')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('conversation_id', '=', conversationId)
      .where('replaced_by', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /**
   * Stores the user's message and a PENDING reply to it, together or not at all. With a
   * clientMessageId already used in this conversation, stores nothing and returns undefined.
   */
  async createExchange(input: {
    conversationId: string;
    authorId: string;
    content: string;
    clientMessageId: string | null;
    moderationFlags: ModerationFlag[];
    hold: ReplyHold;
  }): Promise<{ message: MessageRow; reply: MessageRow } | undefined> {
    return this.db.transaction().execute(async (tx) => {
      const now = new Date();
      const message = await tx
        .insertInto('messages')
        .values({
          id: randomUUID(),
          conversation_id: input.conversationId,
          role: 'USER',
          content: input.content,
          status: 'COMPLETED',
          author_id: input.authorId,
          client_message_id: input.clientMessageId,
          moderation_flags: input.moderationFlags,
          created_at: now,
          completed_at: now,
        } as never)
        .onConflict((oc) => oc.columns(['conversation_id', 'client_message_id']).where('client_message_id', 'is not', null).doNothing())
        .returningAll()
        .executeTakeFirst();
      if (!message) return undefined;
      const reply = await tx
        .insertInto('messages')
        .values({ ...pendingReply(input.conversationId, message.id, input.hold), created_at: new Date(now.getTime() + 1) } as never)
        .returningAll()
        .executeTakeFirstOrThrow();
      return { message, reply };
    });
  }

  /**
   * A new PENDING reply to the same message, taking the old one's place in one step; undefined
   * when another reply took it first (of concurrent regenerations, exactly one wins).
   */
  async replaceReply(old: MessageRow, hold: ReplyHold): Promise<MessageRow | undefined> {
    try {
      return await this.db.transaction().execute(async (tx) => {
        const reply = await tx
          .insertInto('messages')
          .values({ ...pendingReply(old.conversation_id, old.reply_to, hold), created_at: new Date() } as never)
          .returningAll()
          .executeTakeFirstOrThrow();
        const claimed = await tx.updateTable('messages').set({ replaced_by: reply.id }).where('id', '=', old.id).where('replaced_by', 'is', null).executeTakeFirst();
        if (Number(claimed.numUpdatedRows) === 0) throw new LostRace();
        return reply;
      });
    } catch (error) {
      if (error instanceof LostRace) return undefined;
      throw error;
    }
  }

  /** The texts of the sender's latest messages in a conversation, newest first (for spam checks). */
  async recentFrom(conversationId: string, authorId: string, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('messages')
      .select('content')
      .where('conversation_id', '=', conversationId)
      .where('author_id', '=', authorId)
      .orderBy('seq', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => r.content);
  }

  /** The flags that refuse a message (none until an admin sets some). */
  async moderationPolicy(): Promise<ModerationFlag[]> {
    const row = await this.db.selectFrom('moderation_policy').select('refuse').where('id', '=', 1).executeTakeFirst();
    return row?.refuse ?? [];
  }

  async setModerationPolicy(refuse: ModerationFlag[]): Promise<ModerationFlag[]> {
    const row = await this.db
      .insertInto('moderation_policy')
      .values({ id: 1, refuse, updated_at: new Date() })
      .onConflict((oc) => oc.column('id').doUpdateSet({ refuse, updated_at: new Date() }))
      .returning('refuse')
      .executeTakeFirstOrThrow();
    return row.refuse;
  }

  /** The newest message in place of a conversation. */
  latest(conversationId: string): Promise<MessageRow | undefined> {
    return this.db
      .selectFrom('messages')
      .selectAll()
      .where('conversation_id', '=', conversationId)
      .where('replaced_by', 'is', null)
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
  }

  /** The history a reply is generated from: messages in place before it with text, oldest first. */
  history(conversationId: string, beforeSeq: number): Promise<MessageRow[]> {
    return this.db
      .selectFrom('messages')
      .selectAll()
      .where('conversation_id', '=', conversationId)
      .where('replaced_by', 'is', null)
      .where('seq', '<', beforeSeq)
      .where((eb) => eb.or([eb('status', '=', 'COMPLETED'), eb.and([eb('status', '=', 'CANCELLED'), eb('content', '!=', '')])]))
      .orderBy('seq', 'asc')
      .execute();
  }

  /** PENDING to STREAMING; false when the reply is no longer pending (e.g. cancelled). */
  async markStreaming(id: string): Promise<boolean> {
    const result = await this.db.updateTable('messages').set({ status: 'STREAMING' }).where('id', '=', id).where('status', '=', 'PENDING').executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Writes the text so far of a streaming reply. */
  async saveProgress(id: string, content: string): Promise<void> {
    await this.db.updateTable('messages').set({ content }).where('id', '=', id).where('status', '=', 'STREAMING').execute();
  }

  /**
   * Ends a reply that is still open; undefined when it had already ended (nothing is overwritten).
   * `used` is the credits it used: it costs that, at most its hold, and in the same transaction
   * what it owes is queued for the users subgraph (credit_settlements), so no end goes unsettled.
   */
  finish(id: string, outcome: Partial<ReplyOutcome> & Pick<ReplyOutcome, 'status'>, used = 0): Promise<MessageRow | undefined> {
    return this.db.transaction().execute(async (tx) => {
      const ended = await tx
        .updateTable('messages')
        .set({ ...outcome, completed_at: new Date(), credits: sql<number>`least(${Math.max(0, Math.ceil(used))}, coalesce(credits_held, 0))` })
        .where('id', '=', id)
        .where('status', 'in', [...OPEN_STATUSES])
        .returningAll()
        .executeTakeFirst();
      if (!ended?.hold_key) return ended;
      const owner = await tx.selectFrom('conversation_owners').select('user_id').where('conversation_id', '=', ended.conversation_id).executeTakeFirstOrThrow();
      await tx
        .insertInto('credit_settlements')
        .values({ hold_key: ended.hold_key, user_id: owner.user_id, reply_id: ended.id, used: ended.credits ?? 0, reason: `reply ${ended.status.toLowerCase()}`, attempts: 0, next_attempt_at: new Date(), created_at: new Date() })
        .onConflict((oc) => oc.column('hold_key').doNothing())
        .execute();
      return ended;
    });
  }

  /** Queues the release of a hold no reply was stored for (a send that lost a race after holding). */
  async releaseUnused(hold: ReplyHold, userId: string): Promise<void> {
    await this.db
      .insertInto('credit_settlements')
      .values({ hold_key: hold.holdKey, user_id: userId, reply_id: hold.replyId, used: 0, reason: 'reply not stored', attempts: 0, next_attempt_at: new Date(), created_at: new Date() })
      .onConflict((oc) => oc.column('hold_key').doNothing())
      .execute();
  }

  /** Settlements due now, oldest first. */
  dueSettlements(limit: number): Promise<SettlementRow[]> {
    return this.db.selectFrom('credit_settlements').selectAll().where('next_attempt_at', '<=', new Date()).orderBy('next_attempt_at').limit(limit).execute();
  }

  /** The users subgraph took it: done. */
  async settled(holdKey: string): Promise<void> {
    await this.db.deleteFrom('credit_settlements').where('hold_key', '=', holdKey).execute();
  }

  /** It failed this time: try again after `delayMs`. */
  async settleLater(holdKey: string, delayMs: number): Promise<void> {
    await this.db
      .updateTable('credit_settlements')
      .set((eb) => ({ attempts: eb('attempts', '+', 1), next_attempt_at: new Date(Date.now() + delayMs) }))
      .where('hold_key', '=', holdKey)
      .execute();
  }

  /** Open replies of a conversation, oldest first. */
  openReplies(conversationId: string): Promise<MessageRow[]> {
    return this.db
      .selectFrom('messages')
      .selectAll()
      .where('conversation_id', '=', conversationId)
      .where('status', 'in', [...OPEN_STATUSES])
      .orderBy('seq')
      .execute();
  }

  summary(conversationId: string): Promise<SummaryRow | undefined> {
    return this.db.selectFrom('conversation_summaries').selectAll().where('conversation_id', '=', conversationId).executeTakeFirst();
  }

  async saveSummary(conversationId: string, summary: string, coveredMessages: number): Promise<void> {
    await this.db
      .insertInto('conversation_summaries')
      .values({ conversation_id: conversationId, summary, covered_messages: coveredMessages, updated_at: new Date() })
      .onConflict((oc) => oc.column('conversation_id').doUpdateSet({ summary, covered_messages: coveredMessages, updated_at: new Date() }))
      .execute();
  }
}

/** The oldest message of a conversation. */
function firstMessage(db: Kysely<MessagesTables>, conversationId: string): Promise<MessageRow | undefined> {
  return db.selectFrom('messages').selectAll().where('conversation_id', '=', conversationId).orderBy('seq').limit(1).executeTakeFirst();
}

/** Thrown inside a transaction to roll it back when a concurrent request got there first. */
class LostRace extends Error {}

/** The row of a new PENDING reply to `replyTo`, with the credits held for it. */
function pendingReply(conversationId: string, replyTo: string | null, hold: ReplyHold) {
  return {
    id: hold.replyId,
    conversation_id: conversationId,
    role: 'ASSISTANT' as const,
    content: '',
    status: 'PENDING' as const,
    reply_to: replyTo,
    hold_key: hold.holdKey,
    credits_held: hold.creditsHeld,
  };
}

/** The cursor key of a message: its place in insertion order. */
export const messageCursor = (row: MessageRow): CursorKey => [Number(row.seq)];
