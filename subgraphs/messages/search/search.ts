/** searchMessages: the caller's own messages matching a web-search style query, best match first, with the matching passage marked. */
import { requireViewer } from '@chat/shared/auth';
import { badInput } from '@chat/shared/errors';
import { pageWindow } from '@chat/shared/pagination';
import { isUuid, text } from '@chat/shared/validate';
import type { Context } from '../context';
import type { MessageRow } from '../store';
import { positionAfter, searchCursor } from './cursor';
import { HIGHLIGHT_START, HIGHLIGHT_STOP, type SearchFilters, type SearchPosition } from './store';

/** The longest query accepted. */
export const SEARCH_QUERY_MAX = 500;

/** searchMessages' arguments as the contract names them. */
export interface SearchArgs {
  query: string;
  conversationId?: string | null;
  characterId?: string | null;
  role?: MessageRow['role'] | null;
  from?: string | null;
  to?: string | null;
  first?: number | null;
  after?: string | null;
}

/** MessageSearchConnection as resolvers return it. */
export interface SearchConnection {
  edges: Array<{ cursor: string; node: MessageRow; highlight: string }>;
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
  totalCount: number;
}

/**
 * searchMessages: only ever the caller's own messages (an admin's too: the public API searches no one
 * else's), deleted ones never. Pages after the first rank the list the first page saw: new messages
 * wait for a new search, so nothing is skipped or repeated while they arrive.
 */
export async function searchMessages(ctx: Context, args: SearchArgs): Promise<SearchConnection> {
  const viewer = requireViewer(ctx.viewer);
  const query = text('query', args.query, { min: 1, max: SEARCH_QUERY_MAX }).trim();
  const window = pageWindow({ first: args.first }, 0);
  const filters: SearchFilters = {
    userId: viewer.id,
    conversationId: optionalId('conversationId', args.conversationId),
    characterId: optionalId('characterId', args.characterId),
    role: args.role ?? undefined,
    from: optionalTime('from', args.from),
    to: optionalTime('to', args.to),
  };
  const search = ctx.store.search;
  const position: SearchPosition = args.after != null ? positionAfter(args.after) : { anchor: new Date(), maxSeq: await search.lastSeq(), after: null };
  const [first, ...more] = await search.languages(filters);
  if (first === undefined) return { edges: [], pageInfo: { hasNextPage: false, hasPreviousPage: position.after !== null, startCursor: null, endCursor: null }, totalCount: 0 };
  const languages = [first, ...more] as const;
  const [hits, totalCount] = await Promise.all([search.page(query, languages, filters, position, window.limit), search.count(query, languages, filters, position.maxSeq)]);
  const page = hits.slice(0, window.limit);
  for (const hit of page) ctx.loaders.message.prime(hit.message.id, hit.message);
  const edges = page.map((hit) => ({ cursor: searchCursor(position, { score: hit.score, seq: hit.message.seq }), node: hit.message, highlight: markHighlight(hit.highlight) }));
  return {
    edges,
    pageInfo: { hasNextPage: hits.length > window.limit, hasPreviousPage: position.after !== null, startCursor: edges[0]?.cursor ?? null, endCursor: edges.at(-1)?.cursor ?? null },
    totalCount,
  };
}

/** The passage (HTML-escaped by the store: a message's own markup is text) with its matches wrapped in <mark></mark>. */
export function markHighlight(passage: string): string {
  return passage.replaceAll(HIGHLIGHT_START, '<mark>').replaceAll(HIGHLIGHT_STOP, '</mark>');
}

/** An id filter, or BAD_USER_INPUT naming it when it is no id at all. */
function optionalId(field: string, value: string | null | undefined): string | undefined {
  if (value == null) return undefined;
  if (!isUuid(value)) throw badInput(field, 'is not a valid id');
  return value;
}

/** A DateTime filter, or BAD_USER_INPUT naming it. */
function optionalTime(field: string, value: string | null | undefined): Date | undefined {
  if (value == null) return undefined;
  const time = Date.parse(value);
  if (Number.isNaN(time)) throw badInput(field, 'must be an ISO-8601 date-time');
  return new Date(time);
}
