/** The conversationEvents subscription: a conversation's events as they happen, late joiners caught up first, or replayed from a cursor. */
import { requireViewer } from '@chat/shared/auth';
import { createChannel } from '@chat/shared/channel';
import { contractError, ErrorCode, notFound } from '@chat/shared/errors';
import { mayRead } from '../access';
import type { Context } from '../context';
import { CatchUp } from '../realtime/catch-up';
import { CONVERSATION_CLOSED, type ConversationEvent } from '../realtime/events';
import { compactReplay, inCursorOrder, newerThan, validCursor } from '../realtime/resume';
import { unavailable } from './checks';

/**
 * conversationEvents: live events of one conversation. A subscriber joining while a reply
 * streams first gets its text so far as one delta; later deltas continue from there (CatchUp).
 * With `after` (a cursor it received), it first gets the events kept since then (a reply that
 * ended meanwhile as its terminal event, not delta by delta), then live ones, none twice; a cursor
 * older than what is kept answers CURSOR_EXPIRED. A conversation deleted meanwhile ends it with
 * NOT_FOUND. The iterator's return() ends it at once.
 */
export async function conversationEvents(ctx: Context, conversationId: string, after?: string | null): Promise<AsyncGenerator<ConversationEvent>> {
  requireViewer(ctx.viewer);
  const cursor = after === undefined || after === null ? undefined : validCursor(after);
  if (!(await mayRead(ctx, conversationId))) throw notFound('Conversation');
  let stopListening: (() => void) | undefined;
  let closed = false;
  let joined = false;
  const leave = () => void ctx.sessions.leave(conversationId, ctx.viewer).catch((err) => ctx.log.warn({ err }, 'leaving a chat session failed'));
  const channel = createChannel<ConversationEvent>(() => {
    closed = true;
    stopListening?.();
    if (joined) leave();
  });
  // Live events wait here until what comes first (the text so far, or the replay) has been sent.
  const early: ConversationEvent[] = [];
  let replaying = true;
  let forward: (event: ConversationEvent) => ConversationEvent[];
  // A deleted conversation's subscriptions end at once, with what a new one would get.
  const close = () => channel.writer.fail(notFound('Conversation'));
  // Listening first, then reading what was kept: an event is in one or the other or both (then passed once).
  stopListening = await ctx.bus.listen(
    conversationId,
    (event) => (event.kind === CONVERSATION_CLOSED ? close() : replaying ? early.push(event) : forward(event).forEach((passed) => channel.writer.push(passed))),
    () => channel.writer.fail(unavailable('Live events were interrupted; subscribe again to catch up.')),
  );
  // Deleted between the check above and listening: no event will say so, the row does.
  const [owner] = await ctx.store.ownersOf([conversationId]);
  if (!owner || owner.deleted_at) close();
  let first: ConversationEvent[];
  try {
    if (cursor !== undefined) {
      const kept = await ctx.bus.replay(conversationId, cursor);
      if (kept === 'expired') throw contractError(ErrorCode.CURSOR_EXPIRED, 'Events after this cursor are no longer kept; reload the conversation, then subscribe without it.');
      if (kept === 'unknown') throw contractError(ErrorCode.BAD_USER_INPUT, 'after is not a cursor of this conversation.', { argumentName: 'after' });
      const isNew = newerThan(cursor);
      forward = (event) => (isNew(event) ? [event] : []);
      first = [...compactReplay(kept.events), ...early].filter(isNew);
    } else {
      const catchUp = new CatchUp();
      forward = (event) => catchUp.pass(event);
      // In cursor order: the text so far stands where its last piece was published.
      first = inCursorOrder([...catchUp.start(await ctx.bus.progress(conversationId), early), ...early.flatMap(forward)]);
    }
  } catch (error) {
    stopListening();
    throw error;
  }
  // No await since `first` was made: every live event is in it or arrives from here on.
  replaying = false;
  // A replay that reaches the conversation's deletion ends as a live subscriber's did.
  if (first.some((event) => event.kind === CONVERSATION_CLOSED)) close();
  else for (const event of first) channel.writer.push(event);
  await ctx.sessions.join(conversationId);
  joined = true;
  // Left while joining: the leave is made now that the join is counted.
  if (closed) leave();
  return channel.iterator;
}
