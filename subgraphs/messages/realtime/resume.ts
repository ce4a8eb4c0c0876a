/** What a subscription resuming from a cursor sends: the replay compacted, then each live event once, in cursor order. */
import { contractError, ErrorCode } from '@chat/shared/errors';
import { TERMINAL_KINDS, type ConversationEvent } from './events';
import { compareCursors, parseCursor } from './replay';

/** `after` as a cursor, or BAD_USER_INPUT. */
export function validCursor(after: string): string {
  if (!parseCursor(after)) throw contractError(ErrorCode.BAD_USER_INPUT, 'after is not a cursor of this conversation.', { argumentName: 'after' });
  return after;
}

/**
 * The events to replay from those kept after a cursor: a reply that ended meanwhile is not replayed
 * delta by delta, its terminal event carries the whole message.
 */
export function compactReplay(events: readonly ConversationEvent[]): ConversationEvent[] {
  const ended = new Set(events.filter((e) => TERMINAL_KINDS.has(e.kind)).map((e) => e.messageId));
  return events.filter((e) => !(e.kind === 'REPLY_DELTA' && ended.has(e.messageId)));
}

/** A filter passing only events after `last`, moving `last` as they pass: each live event once, none sent already. */
export function newerThan(last: string): (event: ConversationEvent) => boolean {
  let newest = last;
  return (event) => {
    if (event.cursor === undefined) return true;
    if (compareCursors(event.cursor, newest) <= 0) return false;
    newest = event.cursor;
    return true;
  };
}

/** Events in cursor order (stable; events without a cursor stay where they are relative to their neighbours). */
export function inCursorOrder(events: readonly ConversationEvent[]): ConversationEvent[] {
  return events
    .map((event, index) => ({ event, index }))
    .sort((a, b) => (a.event.cursor && b.event.cursor ? compareCursors(a.event.cursor, b.event.cursor) : 0) || a.index - b.index)
    .map(({ event }) => event);
}
