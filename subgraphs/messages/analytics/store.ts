/**
 * Usage and conversation statistics as SQL aggregates over the stored replies (never rows loaded and summed here):
 * replies by the time they ended (the partial index messages_replies_by_time), grouped by day, model, provider or
 * character; and each conversation's counts, many conversations in one query.
 */
import { sql } from 'kysely';
import { isUuid } from '@chat/shared/validate';
import type { Db } from '../store/path';

/** How usage is grouped (the contract's UsageGrouping). */
export type UsageGrouping = 'DAY' | 'MODEL' | 'PROVIDER' | 'CHARACTER';

/** Each grouping's key, as SQL over messages m joined with conversation_owners o. Days are UTC. */
const GROUP_KEYS: Record<UsageGrouping, ReturnType<typeof sql>> = {
  DAY: sql`to_char(m.completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`,
  MODEL: sql`coalesce(m.model, 'unknown')`,
  PROVIDER: sql`coalesce(m.provider, 'unknown')`,
  CHARACTER: sql`coalesce(o.character_id::text, 'unknown')`,
};

/** A usage bucket as the contract shapes it. */
export interface UsageBucket {
  key: string;
  replies: number;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  credits: number;
  averageLatencyMs: number | null;
  averageTimeToFirstTokenMs: number | null;
}

/** Whose replies and when: one user's (null: everyone's), ended in [from, to). */
export interface UsageScope {
  userId: string | null;
  from?: Date;
  to?: Date;
}

/** A conversation's counts (the contract's ConversationStats). */
export interface ConversationStats {
  conversationId: string;
  messageCount: number;
  userMessages: number;
  replies: number;
  totalTokens: number;
  sessions: number;
  totalSessionSeconds: number;
  averageReplyLatencyMs: number | null;
  firstMessageAt: Date | null;
  lastMessageAt: Date | null;
}

const toInt = (value: unknown): number => Number(value ?? 0);
const toIntOrNull = (value: unknown): number | null => (value == null ? null : Math.round(Number(value)));

export class UsageAnalytics {
  constructor(private readonly db: () => Db) {}

  /**
   * Generated replies that ended in the scope, grouped, keys in order. A generated reply is one that held credits
   * (hold_key): greetings, edits, imported and forked copies are no usage.
   */
  async usage(scope: UsageScope, groupBy: UsageGrouping): Promise<UsageBucket[]> {
    const where = [sql`m.role = 'ASSISTANT'`, sql`m.completed_at IS NOT NULL`, sql`m.hold_key IS NOT NULL`];
    if (scope.userId) where.push(sql`o.user_id = ${scope.userId}`);
    if (scope.from) where.push(sql`m.completed_at >= ${scope.from}`);
    if (scope.to) where.push(sql`m.completed_at < ${scope.to}`);
    const key = GROUP_KEYS[groupBy];
    const { rows } = await sql<Record<string, unknown>>`
      SELECT ${key} AS key, count(*) AS replies,
        coalesce(sum(m.prompt_tokens), 0) AS prompt_tokens, coalesce(sum(m.completion_tokens), 0) AS completion_tokens,
        coalesce(sum(m.total_tokens), 0) AS total_tokens, coalesce(sum(m.credits), 0) AS credits,
        avg(m.latency_ms) AS latency, avg(m.first_token_ms) AS first_token
      FROM messages m JOIN conversation_owners o ON o.conversation_id = m.conversation_id
      WHERE ${sql.join(where, sql` AND `)}
      GROUP BY 1 ORDER BY 1`.execute(this.db());
    return rows.map((r) => ({
      key: String(r.key),
      replies: toInt(r.replies),
      promptTokens: toInt(r.prompt_tokens),
      completionTokens: toInt(r.completion_tokens),
      totalTokens: toInt(r.total_tokens),
      credits: toInt(r.credits),
      averageLatencyMs: toIntOrNull(r.latency),
      averageTimeToFirstTokenMs: toIntOrNull(r.first_token),
    }));
  }

  /** Each conversation's counts over its messages that are not deleted (every branch), and its ended sessions: two queries for any number. */
  async stats(conversationIds: readonly string[]): Promise<ConversationStats[]> {
    const ids = conversationIds.filter(isUuid);
    if (ids.length === 0) return [];
    const [messages, sessions] = await Promise.all([
      sql<Record<string, unknown>>`
        SELECT conversation_id, count(*) AS messages, count(*) FILTER (WHERE role = 'USER') AS user_messages,
          count(*) FILTER (WHERE role = 'ASSISTANT' AND parent_id IS NOT NULL) AS replies, coalesce(sum(total_tokens), 0) AS tokens,
          avg(latency_ms) FILTER (WHERE role = 'ASSISTANT') AS latency, min(created_at) AS first_at, max(created_at) AS last_at
        FROM messages WHERE conversation_id = any(${ids}::uuid[]) AND deleted_at IS NULL
        GROUP BY conversation_id`.execute(this.db()),
      sql<Record<string, unknown>>`
        SELECT conversation_id, count(*) AS sessions, coalesce(sum(extract(epoch from (ended_at - started_at))), 0) AS seconds
        FROM conversation_sessions WHERE conversation_id = any(${ids}::uuid[])
        GROUP BY conversation_id`.execute(this.db()),
    ]);
    const byMessages = new Map(messages.rows.map((r) => [String(r.conversation_id), r]));
    const bySessions = new Map(sessions.rows.map((r) => [String(r.conversation_id), r]));
    return ids.map((conversationId) => {
      const m = byMessages.get(conversationId);
      const s = bySessions.get(conversationId);
      return {
        conversationId,
        messageCount: toInt(m?.messages),
        userMessages: toInt(m?.user_messages),
        replies: toInt(m?.replies),
        totalTokens: toInt(m?.tokens),
        sessions: toInt(s?.sessions),
        totalSessionSeconds: Math.round(Number(s?.seconds ?? 0)),
        averageReplyLatencyMs: toIntOrNull(m?.latency),
        firstMessageAt: m?.first_at ? new Date(m.first_at as string) : null,
        lastMessageAt: m?.last_at ? new Date(m.last_at as string) : null,
      };
    });
  }

  /** A chat session of the conversation ended (realtime/sessions.ts). */
  async recordSession(conversationId: string, startedAt: Date, endedAt: Date): Promise<void> {
    await this.db().insertInto('conversation_sessions').values({ conversation_id: conversationId, started_at: startedAt, ended_at: endedAt }).execute();
  }
}
