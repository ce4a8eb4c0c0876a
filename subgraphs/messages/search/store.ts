/**
 * Full-text search over one user's messages, in SQL that runs the same on PGlite and on a server:
 * the GIN index on messages.search_vector finds the matches, ts_rank weighted by recency orders
 * them, and ts_headline marks the matching passage of the page's rows only. Each conversation's
 * messages are indexed in its language (search_config): the query is read in each language the
 * user's conversations use, one indexed condition per language.
 */
import { sql } from 'kysely';
import { lockConversation, type Db } from '../store/path';
import type { MessageRow } from '../store/rows';

/** Markers ts_headline puts around matches: private-use characters, so the text can be HTML-escaped before they become <mark>. */
export const HIGHLIGHT_START = '\uE000';
export const HIGHLIGHT_STOP = '\uE001';

/** A reply's rank halves when it is this many days older than the search (relative to its first page). */
export const RECENCY_HALF_LIFE_DAYS = 30;

/** Decimal places a score keeps: compared exactly in cursors. */
const SCORE_SCALE = 9;

/** What a search is limited to; every filter is optional but the owner. */
export interface SearchFilters {
  userId: string;
  conversationId?: string;
  characterId?: string;
  role?: MessageRow['role'];
  from?: Date;
  to?: Date;
}

/** The languages (text search configurations) of the conversations a search covers, at least one. */
export type SearchLanguages = readonly [string, ...string[]];

/** Where a page starts: the first page's instant and last message (fixed for every later page), and the last row seen. */
export interface SearchPosition {
  /** Recency is measured from here, so a row's score never changes between pages. */
  anchor: Date;
  /** Messages stored after the first page (seq above it) are left out, so pages never shift. */
  maxSeq: number;
  /** The last row of the previous page; null on the first page. */
  after: { score: string; seq: number } | null;
}

/** A match: the message, its score (exact, as a decimal string) and its passage, HTML-escaped, matches between the markers. */
export interface SearchHit {
  message: MessageRow;
  score: string;
  highlight: string;
}

/** Reads the search index. */
export class MessageSearch {
  constructor(private readonly db: () => Db) {}

  /** The newest message's seq now: where a first page fixes the list. */
  async lastSeq(): Promise<number> {
    const row = await this.db().selectFrom('messages').select(sql<string | null>`max(seq)`.as('seq')).executeTakeFirstOrThrow();
    return Number(row.seq ?? 0);
  }

  /** The languages of the conversations the filters cover; none when the user has no conversation there. */
  async languages(filters: SearchFilters): Promise<string[]> {
    let query = this.db().selectFrom('conversation_owners').select(sql<string>`search_config::text`.as('language')).distinct().where('user_id', '=', filters.userId);
    if (filters.conversationId) query = query.where('conversation_id', '=', filters.conversationId);
    if (filters.characterId) query = query.where('character_id', '=', filters.characterId);
    return (await query.execute()).map((r) => r.language);
  }

  /** A conversation's messages are searched in `language` from now on, those stored so far included (under its lock: no write slips between). */
  async setLanguage(conversationId: string, language: string): Promise<void> {
    await this.db()
      .transaction()
      .execute(async (tx) => {
        await lockConversation(tx, conversationId);
        await sql`UPDATE conversation_owners SET search_config = ${language}::regconfig WHERE conversation_id = ${conversationId}`.execute(tx);
        await sql`UPDATE messages SET search_config = ${language}::regconfig WHERE conversation_id = ${conversationId} AND search_config <> ${language}::regconfig`.execute(tx);
      });
  }

  /** How many messages match, all pages together. */
  async count(query: string, languages: SearchLanguages, filters: SearchFilters, maxSeq: number): Promise<number> {
    const { rows } = await sql<{ n: string }>`
      SELECT count(*) AS n FROM messages m JOIN conversation_owners o ON o.conversation_id = m.conversation_id
      WHERE ${matches(query, languages)} AND ${conditions(filters, maxSeq)}`.execute(this.db());
    return Number(rows[0]?.n ?? 0);
  }

  /** One page of matches, best first (then newest), `limit` + 1 rows; the highlight computed for those rows only. */
  async page(query: string, languages: SearchLanguages, filters: SearchFilters, position: SearchPosition, limit: number): Promise<SearchHit[]> {
    const { rows } = await pageQuery(query, languages, filters, position, limit).execute(this.db());
    return rows.map(({ score, highlight, ...message }) => {
      delete (message as Partial<{ search_vector: unknown }>).search_vector;
      return { message: message as MessageRow, score, highlight };
    });
  }

  /** The plan of page()'s query, as PostgreSQL's EXPLAIN prints it (the benchmark checks the GIN index is used). */
  async explainPage(query: string, languages: SearchLanguages, filters: SearchFilters, position: SearchPosition, limit: number): Promise<string> {
    const { rows } = await sql<{ 'QUERY PLAN': string }>`EXPLAIN ${pageQuery(query, languages, filters, position, limit)}`.execute(this.db());
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  }
}

/** The match, one indexed condition per language: each language's messages against the query read in it. */
function matches(query: string, languages: SearchLanguages) {
  return sql`(${sql.join(
    languages.map((language) => sql`(m.search_config = ${language}::regconfig AND m.search_vector @@ websearch_to_tsquery(${language}::regconfig, ${query}))`),
    sql` OR `,
  )})`;
}

/** page()'s SQL. */
function pageQuery(query: string, languages: SearchLanguages, filters: SearchFilters, position: SearchPosition, limit: number) {
  // Ranked and marked with the query read in the message's own language.
  const tsquery = sql`websearch_to_tsquery(m.search_config, ${query})`;
  const ageDays = sql`extract(epoch from (${position.anchor}::timestamptz - m.created_at)) / 86400.0`;
  const score = sql`round((ts_rank(m.search_vector, ${tsquery}) / (1 + greatest(${ageDays}, 0) / ${RECENCY_HALF_LIFE_DAYS}))::numeric, ${SCORE_SCALE})`;
  const after = position.after ? sql`AND (ranked.score, ranked.seq) < (${position.after.score}::numeric, ${position.after.seq}::bigint)` : sql``;
  // Not in fragments: those drop a passage's last punctuation.
  const options = `StartSel=${HIGHLIGHT_START}, StopSel=${HIGHLIGHT_STOP}, MaxWords=35, MinWords=12, ShortWord=0`;
  // Escaped before ts_headline, whose parser would drop markup as tags; the markers removed from the text first, so only matches carry them.
  const escaped = sql`replace(replace(replace(translate(m.content, ${HIGHLIGHT_START + HIGHLIGHT_STOP}, ''), '&', '&amp;'), '<', '&lt;'), '>', '&gt;')`;
  return sql<MessageRow & { score: string; highlight: string }>`
    WITH ranked AS (
      SELECT m.id, m.seq, ${score} AS score
      FROM messages m JOIN conversation_owners o ON o.conversation_id = m.conversation_id
      WHERE ${matches(query, languages)} AND ${conditions(filters, position.maxSeq)}
    ),
    page AS (SELECT * FROM ranked WHERE true ${after} ORDER BY score DESC, seq DESC LIMIT ${limit + 1})
    SELECT m.*, page.score::text AS score, ts_headline(m.search_config, ${escaped}, ${tsquery}, ${options}) AS highlight
    FROM page JOIN messages m ON m.id = page.id
    ORDER BY page.score DESC, page.seq DESC`;
}

/** The filters as SQL on messages m joined with conversation_owners o: the owner's, never deleted, never a reply still being written. */
function conditions(filters: SearchFilters, maxSeq: number) {
  const parts = [
    sql`o.user_id = ${filters.userId}`,
    sql`NOT o.importing`,
    sql`m.deleted_at IS NULL`,
    // A reply still streaming changes its text (and its score) between pages: it is found once it has ended.
    sql`m.status NOT IN ('PENDING', 'STREAMING')`,
    sql`m.seq <= ${maxSeq}`,
  ];
  if (filters.conversationId) parts.push(sql`m.conversation_id = ${filters.conversationId}`);
  if (filters.characterId) parts.push(sql`o.character_id = ${filters.characterId}`);
  if (filters.role) parts.push(sql`m.role = ${filters.role}`);
  if (filters.from) parts.push(sql`m.created_at >= ${filters.from}`);
  if (filters.to) parts.push(sql`m.created_at < ${filters.to}`);
  return sql.join(parts, sql` AND `);
}
