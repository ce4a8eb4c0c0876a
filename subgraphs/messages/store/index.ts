/**
 * The messages subgraph's store: messages (a tree per conversation, its active path marked on the
 * rows, see rows.ts), their owners, summaries, the moderation policy and the settlement outbox.
 * Writes that add to a conversation hold its lock and refuse while one of its replies is being
 * written, so of concurrent ones exactly one wins and the path is never broken.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Database } from '@chat/shared/db';
import type { PageWindow } from '@chat/shared/pagination';
import { DEFAULT_SEARCH_LANGUAGE } from '@chat/shared/search-languages';
import { isUuid } from '@chat/shared/validate';
import type { ModerationFlag } from '../moderation/moderate';
import { activate, current, DELETED, isGenerating, pathEnd, PathConflict, pathTo, refuseWhileGenerating, underLock, type Db } from './path';
import { onOwnKey, OPEN_STATUSES, type ConversationOwnerRow, type MessageRow, type MessagesTables, type ReplyHold, type ReplyOutcome, type SettlementRow, type SummaryRow } from './rows';
import { UsageAnalytics } from '../analytics/store';
import { ChatFiles } from '../export/store';
import { MessageTemplates } from '../templates/store';
import { MessageSearch } from '../search/store';
import { MessageTree } from './tree';
import { LifecycleStore } from '../lifecycle/store';

export { migrations } from './migrations';
export { DELETED, PathConflict, REPLY_IN_PROGRESS } from './path';
export * from './rows';
export { siblingKey, type PathChange, type SiblingKey } from './tree';

/** What a user message stores: its text, who sent it, and what moderation flagged. */
export interface UserMessageInput {
  authorId: string;
  content: string;
  moderationFlags: ModerationFlag[];
}

/** A user message and the reply generated for it. */
export interface Exchange {
  message: MessageRow;
  reply: MessageRow;
}

/** Why a reply cannot be regenerated or continued: it left the active path (or was never its end). */
const NOT_ON_PATH = 'This message is no longer on the active path; select it first (selectAlternative).';
const NOT_LAST = 'Only the last message of the active path can be continued.';

/** Reads and writes messages. */
export class MessagesStore {
  /** Path switches, deletion, forks and the reads of every branch. */
  readonly tree: MessageTree;
  /** Full-text search (search/store.ts). */
  readonly search: MessageSearch;
  /** Export and import of whole trees (export/store.ts). */
  readonly files: ChatFiles;
  /** Usage and conversation statistics (analytics/store.ts). */
  readonly analytics: UsageAnalytics;
  /** Users' saved messages (templates/store.ts). */
  readonly templates: MessageTemplates;

  /** Conversations' state (deleted, archived), retention and erasure. */
  readonly lifecycle: LifecycleStore;

  constructor(private readonly database: Database<MessagesTables>) {
    this.tree = new MessageTree(() => this.db);
    this.search = new MessageSearch(() => this.db);
    this.files = new ChatFiles(() => this.db);
    this.analytics = new UsageAnalytics(() => this.db);
    this.templates = new MessageTemplates(() => this.db);
    this.lifecycle = new LifecycleStore(() => this.db);
  }

  private get db(): Db {
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

  /** The last message of each conversation's active path, in one query. */
  lastOf(conversationIds: readonly string[]): Promise<MessageRow[]> {
    const valid = conversationIds.filter(isUuid);
    if (valid.length === 0) return Promise.resolve([]);
    return this.db
      .selectFrom('messages')
      .selectAll()
      .distinctOn('conversation_id')
      .where('conversation_id', 'in', valid)
      .where('active', '=', true)
      .orderBy('conversation_id')
      .orderBy('seq', 'desc')
      .execute();
  }

  /** How many messages each conversation's active path holds, in one query. */
  countsOf(conversationIds: readonly string[]): Promise<Array<{ conversation_id: string; count: number }>> {
    const valid = conversationIds.filter(isUuid);
    if (valid.length === 0) return Promise.resolve([]);
    return this.db
      .selectFrom('messages')
      .select(['conversation_id', (eb) => eb.fn.countAll<number>().as('count')])
      .where('conversation_id', 'in', valid)
      .where('active', '=', true)
      .groupBy('conversation_id')
      .execute()
      .then((rows) => rows.map((r) => ({ conversation_id: r.conversation_id, count: Number(r.count) })));
  }

  /** One page of a conversation's active path in the window's direction, limit + 1 rows (one indexed query). */
  page(conversationId: string, window: PageWindow): Promise<MessageRow[]> {
    let query = this.db.selectFrom('messages').selectAll().where('conversation_id', '=', conversationId).where('active', '=', true);
    const forward = window.direction === 'forward';
    if (window.cursor) query = query.where('seq', forward ? '>' : '<', Number(window.cursor[0]));
    return query.orderBy('seq', forward ? 'asc' : 'desc').limit(window.limit + 1).execute();
  }

  /**
   * Remembers who owns a new conversation and stores its greeting as its first message, with the
   * character's alternate greetings as its alternatives (inactive), once: a repeated call returns
   * the greeting stored the first time.
   */
  async recordStart(
    conversationId: string,
    ownerId: string,
    greeting: string,
    alternateGreetings: readonly string[] = [],
    about: { characterId?: string | null; language?: string } = {},
  ): Promise<MessageRow> {
    return this.db.transaction().execute(async (tx) => {
      const now = new Date();
      await tx
        .insertInto('conversation_owners')
        .values({ conversation_id: conversationId, user_id: ownerId, created_at: now, character_id: about.characterId ?? null, search_config: about.language ?? DEFAULT_SEARCH_LANGUAGE })
        .onConflict((oc) => oc.column('conversation_id').doNothing())
        .execute();
      const existing = await firstMessage(tx, conversationId);
      if (existing) return existing;
      const greetingRow = (content: string, i: number) => ({
        id: randomUUID(),
        conversation_id: conversationId,
        role: 'ASSISTANT' as const,
        content,
        status: 'COMPLETED' as const,
        created_at: new Date(now.getTime() + i),
        completed_at: now,
        finish_reason: 'greeting',
        active: i === 0,
      });
      const first = await insertMessage(tx, greetingRow(greeting, 0));
      // One at a time, so that their order (their seq) is the character's.
      for (const [i, content] of alternateGreetings.entries()) await insertMessage(tx, greetingRow(content, i + 1));
      return first;
    });
  }

  /** A conversation's first message (its greeting), once it has started. */
  opening(conversationId: string): Promise<MessageRow | undefined> {
    if (!isUuid(conversationId)) return Promise.resolve(undefined);
    return firstMessage(this.db, conversationId);
  }

  // Live chat: exchanges, alternatives, continuations, replies as they stream, summaries.

  byId(id: string): Promise<MessageRow | undefined> {
    if (!isUuid(id)) return Promise.resolve(undefined);
    return this.db.selectFrom('messages').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** The user message sent with this clientMessageId, and its reply (the one last active under it). */
  async exchangeByClientId(conversationId: string, clientMessageId: string): Promise<Exchange | undefined> {
    return exchangeByClientId(this.db, conversationId, clientMessageId);
  }

  /** A conversation's active path length and the tokens of every reply it holds, for its statistics. */
  async totals(conversationId: string): Promise<{ messageCount: number; totalTokens: number }> {
    const row = await this.db
      .selectFrom('messages')
      .select([sql<number>`count(*) filter (where active)`.as('n'), sql<number>`coalesce(sum(total_tokens), 0)`.as('tokens')])
      .where('conversation_id', '=', conversationId)
      .where('deleted_at', 'is', null)
      .executeTakeFirstOrThrow();
    return { messageCount: Number(row.n), totalTokens: Number(row.tokens) };
  }

  /** Messages a conversation holds on every branch (deleted ones not counted). */
  async countStored(conversationId: string): Promise<number> {
    const row = await this.db
      .selectFrom('messages')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('conversation_id', '=', conversationId)
      .where('deleted_at', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** The last message of the conversation's active path. */
  pathEnd(conversationId: string): Promise<MessageRow | undefined> {
    return pathEnd(this.db, conversationId);
  }

  /** True while a reply of the conversation is being written (or waits to be). */
  isGenerating(conversationId: string): Promise<boolean> {
    return isGenerating(this.db, conversationId);
  }

  /**
   * Stores the user's message and a PENDING reply to it below the active path's last message,
   * together or not at all. With a clientMessageId already used in this conversation, stores
   * nothing and returns the earlier exchange as `earlier`. PathConflict while a reply is open.
   */
  async createExchange(input: UserMessageInput & { conversationId: string; clientMessageId: string | null; hold: ReplyHold }): Promise<Exchange & { earlier?: true }> {
    return underLock(this.db, input.conversationId, async (tx) => {
      // A repeated clientMessageId answers its exchange, even while that exchange's reply is open.
      if (input.clientMessageId) {
        const earlier = await exchangeByClientId(tx, input.conversationId, input.clientMessageId);
        if (earlier) return { ...earlier, earlier: true as const };
      }
      await refuseWhileGenerating(tx, input.conversationId);
      const end = await pathEnd(tx, input.conversationId);
      const message = await insertUserMessage(tx, input.conversationId, end?.id ?? null, input, { clientMessageId: input.clientMessageId, replyId: input.hold.replyId, active: true });
      const reply = await insertPendingReply(tx, input.conversationId, message.id, input.hold, true);
      if (end) await tx.updateTable('messages').set({ active_child_id: message.id }).where('id', '=', end.id).execute();
      return { message, reply };
    });
  }

  /**
   * A new PENDING reply as an alternative of `old` (a reply on the active path), made active: the
   * path now ends at it, and what was below `old` stays below `old`. PathConflict while a reply is
   * open (so of concurrent regenerations exactly one wins) or when `old` left the active path.
   */
  addReplyAlternative(old: MessageRow, hold: ReplyHold): Promise<{ reply: MessageRow; last: MessageRow }> {
    return this.underLock(old.conversation_id, async (tx) => {
      const now = await current(tx, old.id);
      if (!now.active || now.deleted_at) throw new PathConflict(NOT_ON_PATH);
      const reply = await insertPendingReply(tx, now.conversation_id, now.parent_id!, hold, false);
      const last = await activate(tx, now.conversation_id, reply.id);
      return { reply: last, last };
    });
  }

  /**
   * A new alternative of a user message with other text, and a PENDING reply to it, made active.
   * PathConflict while a reply is open.
   */
  addUserEdit(original: MessageRow, input: UserMessageInput, hold: ReplyHold): Promise<Exchange & { last: MessageRow }> {
    return this.underLock(original.conversation_id, async (tx) => {
      const now = await current(tx, original.id);
      if (now.deleted_at) throw new PathConflict(DELETED);
      const message = await insertUserMessage(tx, now.conversation_id, now.parent_id, input, { clientMessageId: null, replyId: hold.replyId, active: false });
      const reply = await insertPendingReply(tx, now.conversation_id, message.id, hold, false);
      const last = await activate(tx, now.conversation_id, reply.id);
      return { message: await current(tx, message.id), reply: last, last };
    });
  }

  /** A new alternative of a reply (or greeting) with the text given, COMPLETED, made active. PathConflict while a reply is open. */
  addReplyEdit(original: MessageRow, content: string): Promise<{ message: MessageRow; last: MessageRow }> {
    return this.underLock(original.conversation_id, async (tx) => {
      const now = await current(tx, original.id);
      if (now.deleted_at) throw new PathConflict(DELETED);
      const at = new Date();
      const message = await insertMessage(tx, {
        id: randomUUID(),
        conversation_id: now.conversation_id,
        role: now.role,
        content,
        status: 'COMPLETED',
        created_at: at,
        completed_at: at,
        finish_reason: 'edited',
        parent_id: now.parent_id,
        reply_to: now.reply_to === null ? null : now.parent_id,
      });
      const last = await activate(tx, now.conversation_id, message.id);
      return { message: last, last };
    });
  }

  /**
   * Reopens the active path's last message, a reply, to write more of it: STREAMING again, its
   * text kept, under the new hold (its length remembered: only what follows is charged).
   * PathConflict while a reply is open or when it is no longer the path's last message.
   */
  startContinuation(reply: MessageRow, hold: ReplyHold): Promise<MessageRow> {
    return this.underLock(reply.conversation_id, async (tx) => {
      const now = await current(tx, reply.id);
      if ((await pathEnd(tx, now.conversation_id))?.id !== now.id) throw new PathConflict(NOT_LAST);
      return tx
        .updateTable('messages')
        .set({
          status: 'STREAMING',
          error: null,
          finish_reason: null,
          completed_at: null,
          hold_key: hold.holdKey,
          credits_held: hold.creditsHeld,
          continued_from: now.content.length,
        })
        .where('id', '=', now.id)
        .returningAll()
        .executeTakeFirstOrThrow();
    });
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

  /**
   * The history a reply is generated from: the path from the conversation's first message down to
   * `leafId` (null: none), messages with text only, oldest first. Other branches, deleted and
   * inactive messages never reach a prompt.
   */
  async history(leafId: string | null): Promise<MessageRow[]> {
    if (leafId === null) return [];
    const path = await pathTo(this.db, leafId);
    return path.filter((m) => m.status === 'COMPLETED' || (m.status === 'CANCELLED' && m.content !== ''));
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
   * `used` is the credits this generation used: it costs that, at most its hold, added to what the
   * reply cost before (a continued reply's earlier generations), and its token usage adds up the
   * same way. In the same transaction what it owes is queued for the users subgraph
   * (credit_settlements), once per hold key, so no end goes unsettled.
   */
  finish(id: string, outcome: Partial<ReplyOutcome> & Pick<ReplyOutcome, 'status'>, used = 0): Promise<MessageRow | undefined> {
    const { prompt_tokens, completion_tokens, total_tokens, ...rest } = outcome;
    const charged = sql<number>`least(${Math.max(0, Math.ceil(used))}, coalesce(credits_held, 0))`;
    const plus = (column: 'prompt_tokens' | 'completion_tokens' | 'total_tokens', value: number | null | undefined) =>
      value == null ? {} : { [column]: sql<number>`coalesce(${sql.ref(column)}, 0) + ${value}` };
    return this.db.transaction().execute(async (tx) => {
      const ended = await tx
        .updateTable('messages')
        .set({
          ...rest,
          ...plus('prompt_tokens', prompt_tokens),
          ...plus('completion_tokens', completion_tokens),
          ...plus('total_tokens', total_tokens),
          completed_at: new Date(),
          credits: sql<number>`coalesce(credits, 0) + ${charged}`,
        })
        .where('id', '=', id)
        .where('status', 'in', [...OPEN_STATUSES])
        .returningAll()
        .returning(charged.as('charged'))
        .executeTakeFirst();
      if (!ended) return undefined;
      const { charged: cost, ...reply } = ended;
      // Nothing to settle without a hold, or on the user's own key (nothing was held).
      if (!reply.hold_key || onOwnKey(reply)) return reply;
      const owner = await tx.selectFrom('conversation_owners').select('user_id').where('conversation_id', '=', reply.conversation_id).executeTakeFirstOrThrow();
      await tx
        .insertInto('credit_settlements')
        .values({ hold_key: reply.hold_key, user_id: owner.user_id, reply_id: reply.id, used: Number(cost), reason: `reply ${reply.status.toLowerCase()}`, attempts: 0, next_attempt_at: new Date(), created_at: new Date() })
        .onConflict((oc) => oc.column('hold_key').doNothing())
        .execute();
      return reply;
    });
  }

  /** Queues the release of a hold no reply was stored for (a write that lost a race after holding). */
  async releaseUnused(hold: ReplyHold, userId: string): Promise<void> {
    if (hold.creditsHeld === 0) return;
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

  summary(conversationId: string): Promise<SummaryRow | undefined> {
    return this.db.selectFrom('conversation_summaries').selectAll().where('conversation_id', '=', conversationId).executeTakeFirst();
  }

  /** Keeps the conversation's running summary: it covers its history's first `coveredMessages`, through `coversThrough`. */
  async saveSummary(conversationId: string, summary: string, coveredMessages: number, coversThrough: string): Promise<void> {
    const values = { summary, covered_messages: coveredMessages, covers_through: coversThrough, updated_at: new Date() };
    await this.db
      .insertInto('conversation_summaries')
      .values({ conversation_id: conversationId, ...values })
      .onConflict((oc) => oc.column('conversation_id').doUpdateSet(values))
      .execute();
  }

  /** Runs `change` in a transaction holding the conversation's lock, refusing while one of its replies is open. */
  private underLock<T>(conversationId: string, change: (tx: Db) => Promise<T>): Promise<T> {
    return underLock(this.db, conversationId, change, { refuseWhileGenerating: true });
  }
}

/** The oldest message of a conversation. */
function firstMessage(db: Db, conversationId: string): Promise<MessageRow | undefined> {
  return db.selectFrom('messages').selectAll().where('conversation_id', '=', conversationId).orderBy('seq').limit(1).executeTakeFirst();
}

async function exchangeByClientId(db: Db, conversationId: string, clientMessageId: string): Promise<Exchange | undefined> {
  const message = await db
    .selectFrom('messages')
    .selectAll()
    .where('conversation_id', '=', conversationId)
    .where('client_message_id', '=', clientMessageId)
    .executeTakeFirst();
  if (!message) return undefined;
  const reply = await db
    .selectFrom('messages')
    .selectAll()
    .where('parent_id', '=', message.id)
    .orderBy(sql`(id = ${message.active_child_id}) is true`, 'desc')
    .orderBy('seq')
    .limit(1)
    .executeTakeFirst();
  return reply ? { message, reply } : undefined;
}

/** Inserts a user message below `parentId`, its active child its reply `replyId` (inserted next); on the active path when `active` (else activate it next). */
function insertUserMessage(
  tx: Db,
  conversationId: string,
  parentId: string | null,
  input: UserMessageInput,
  options: { clientMessageId: string | null; replyId: string; active: boolean },
) {
  const now = new Date();
  return insertMessage(tx, {
    id: randomUUID(),
    conversation_id: conversationId,
    role: 'USER',
    content: input.content,
    status: 'COMPLETED',
    author_id: input.authorId,
    client_message_id: options.clientMessageId,
    moderation_flags: input.moderationFlags,
    created_at: now,
    completed_at: now,
    parent_id: parentId,
    active: options.active,
    active_child_id: options.replyId,
  });
}

/** Inserts a PENDING reply to `parentId` with the credits held for it; on the active path when `active` (else activate it next). */
function insertPendingReply(tx: Db, conversationId: string, parentId: string, hold: ReplyHold, active: boolean) {
  return insertMessage(tx, {
    id: hold.replyId,
    conversation_id: conversationId,
    role: 'ASSISTANT',
    content: '',
    status: 'PENDING',
    created_at: new Date(),
    parent_id: parentId,
    reply_to: parentId,
    active,
    hold_key: hold.holdKey,
    credits_held: hold.creditsHeld,
  });
}

/** What a new message must say; every other column takes its default (seq its place in order). */
type NewMessage = Pick<MessageRow, 'id' | 'conversation_id' | 'role' | 'content' | 'status' | 'created_at'> & Partial<Omit<MessageRow, 'seq'>>;

/** Inserts one message and returns it as stored. */
function insertMessage(tx: Db, row: NewMessage): Promise<MessageRow> {
  // The table's types have no defaults (seq is generated): the row is checked as NewMessage instead.
  return tx.insertInto('messages').values(row as never).returningAll().executeTakeFirstOrThrow();
}
