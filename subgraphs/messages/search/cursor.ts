/** Search cursors: opaque, carrying the first page's anchor and last seq so that every later page ranks the same list. */
import { badInput } from '@chat/shared/errors';
import { decodeCursor, encodeCursor } from '@chat/shared/pagination';
import type { SearchPosition } from './store';

/** A score as the store writes it: a non-negative decimal. */
const SCORE = /^\d{1,6}(\.\d{1,12})?$/;

/** The cursor of a row on a page read from `position`. */
export function searchCursor(position: SearchPosition, row: { score: string; seq: number }): string {
  return encodeCursor([position.anchor.toISOString(), position.maxSeq, row.score, Number(row.seq)]);
}

/** The position an `after` cursor stands for; BAD_USER_INPUT for anything searchCursor did not write. */
export function positionAfter(cursor: string): Omit<SearchPosition, 'after'> & { after: NonNullable<SearchPosition['after']> } {
  const [anchor, maxSeq, score, seq] = decodeCursor(cursor, 'after', 4);
  const time = typeof anchor === 'string' ? Date.parse(anchor) : NaN;
  const whole = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (Number.isNaN(time) || !whole(maxSeq) || !whole(seq) || typeof score !== 'string' || !SCORE.test(score)) throw badInput('after', 'is not a valid cursor');
  return { anchor: new Date(time), maxSeq, after: { score, seq } };
}
