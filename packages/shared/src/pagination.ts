import { badInput } from './errors';

/** Page size when the client gives none, and the most one page may hold. */
export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

/** Relay arguments as the contract names them. */
export interface PageArgs {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}

/** A Relay connection, ready to return from a resolver. */
export interface Connection<T> {
  edges: Array<{ cursor: string; node: T }>;
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

/** The position a cursor stands for: the sort key's values, e.g. [timestamp, id]. */
export type CursorKey = Array<string | number>;

/** Cursors are opaque: base64url of the sort key. */
export function encodeCursor(key: CursorKey): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** The sort key behind a cursor, or BAD_USER_INPUT naming the argument. */
export function decodeCursor(cursor: string, argument: string, arity: number): CursorKey {
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(key) && key.length === arity && key.every((v) => typeof v === 'string' || typeof v === 'number')) return key;
  } catch {
    // fall through to the error below
  }
  throw badInput(argument, 'is not a valid cursor');
}

/** A page request normalised: which way to read, how many, and from where. */
export interface PageWindow {
  direction: 'forward' | 'backward';
  limit: number;
  cursor: CursorKey | null;
}

/** Validates Relay arguments; `last`/`before` only where the caller allows them. */
export function pageWindow(args: PageArgs, arity: number, allowBackward = false): PageWindow {
  const check = (name: string, value: number) => {
    if (!Number.isInteger(value) || value < 0 || value > MAX_PAGE_SIZE) throw badInput(name, `must be between 0 and ${MAX_PAGE_SIZE}`);
    return value;
  };
  if (!allowBackward && (args.last != null || args.before != null)) throw badInput('last', 'is not supported on this list');
  if (args.first != null && args.last != null) throw badInput('first', 'cannot be combined with last');
  if (args.last != null || args.before != null) {
    return {
      direction: 'backward',
      limit: check('last', args.last ?? DEFAULT_PAGE_SIZE),
      cursor: args.before != null ? decodeCursor(args.before, 'before', arity) : null,
    };
  }
  return {
    direction: 'forward',
    limit: check('first', args.first ?? DEFAULT_PAGE_SIZE),
    cursor: args.after != null ? decodeCursor(args.after, 'after', arity) : null,
  };
}

/**
 * Builds a connection from rows read with limit + 1 in the window's direction
 * (the extra row only says whether there is more).
 */
export function toConnection<T>(rows: T[], window: PageWindow, keyOf: (row: T) => CursorKey): Connection<T> {
  const more = rows.length > window.limit;
  const page = rows.slice(0, window.limit);
  if (window.direction === 'backward') page.reverse();
  const edges = page.map((node) => ({ cursor: encodeCursor(keyOf(node)), node }));
  const forward = window.direction === 'forward';
  return {
    edges,
    pageInfo: {
      hasNextPage: forward ? more : window.cursor !== null,
      hasPreviousPage: forward ? window.cursor !== null : more,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
  };
}
