import { badInput } from './errors';
import { isUuid } from './validate';

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

/** What one position of a sort key holds, as encodeCursor wrote it. */
export type CursorPart = 'timestamp' | 'uuid' | 'integer';

/**
 * A list's sort key: the kind of each position, checked when decoding so that a forged cursor
 * is BAD_USER_INPUT and never reaches the database; or just its length (any strings and numbers).
 */
export type CursorShape = readonly CursorPart[] | number;

// Exactly what Date#toISOString writes for years 0000-9999 (every timestamp the stores hold).
const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * The instants a timestamp cursor may name: years 0001-9999. PostgreSQL has no year 0 (it refuses
 * 0000-01-01 as out of range, where JavaScript takes it for 1 BC), and every row is stamped now.
 */
export const CURSOR_TIME_RANGE = { min: Date.parse('0001-01-01T00:00:00.000Z'), max: Date.parse('9999-12-31T23:59:59.999Z') } as const;

/** A timestamp exactly as encodeCursor wrote it, within CURSOR_TIME_RANGE. */
function isCursorTimestamp(value: unknown): boolean {
  if (typeof value !== 'string' || !ISO_TIMESTAMP.test(value)) return false;
  const time = Date.parse(value);
  return time >= CURSOR_TIME_RANGE.min && time <= CURSOR_TIME_RANGE.max && new Date(time).toISOString() === value;
}

const PART_CHECKS: Record<CursorPart, (value: unknown) => boolean> = {
  timestamp: isCursorTimestamp,
  uuid: isUuid,
  integer: (v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0,
};

function fitsShape(key: unknown, shape: CursorShape): key is CursorKey {
  if (!Array.isArray(key)) return false;
  if (typeof shape === 'number') return key.length === shape && key.every((v) => typeof v === 'string' || typeof v === 'number');
  return key.length === shape.length && shape.every((part, i) => PART_CHECKS[part](key[i]));
}

/** The sort key behind a cursor, or BAD_USER_INPUT naming the argument. */
export function decodeCursor(cursor: string, argument: string, shape: CursorShape): CursorKey {
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (fitsShape(key, shape)) return key;
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

/** Validates Relay arguments (cursors against the list's sort key); `last`/`before` only where the caller allows them. */
export function pageWindow(args: PageArgs, shape: CursorShape, allowBackward = false): PageWindow {
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
      cursor: args.before != null ? decodeCursor(args.before, 'before', shape) : null,
    };
  }
  return {
    direction: 'forward',
    limit: check('first', args.first ?? DEFAULT_PAGE_SIZE),
    cursor: args.after != null ? decodeCursor(args.after, 'after', shape) : null,
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
