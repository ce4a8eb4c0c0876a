/** The conversationEvents subscription: a conversation's events as they happen, late joiners caught up first. */
import { requireViewer } from '@chat/shared/auth';
import { createChannel } from '@chat/shared/channel';
import { notFound } from '@chat/shared/errors';
import { mayRead } from '../access';
import type { Context } from '../context';
import { CatchUp } from '../realtime/catch-up';
import { CONVERSATION_CLOSED, type ConversationEvent } from '../realtime/events';
import { unavailable } from './checks';

/**
 * conversationEvents: live events of one conversation. A subscriber joining while a reply
 * streams first gets its text so far as one delta; later deltas continue from there (CatchUp).
 * The iterator's return() ends it at once (graphql-ws calls it when the client leaves).
 */
export async function conversationEvents(ctx: Context, conversationId: string): Promise<AsyncGenerator<ConversationEvent>> {
  requireViewer(ctx.viewer);
  if (!(await mayRead(ctx, conversationId))) throw notFound('Conversation');
  let stopListening: (() => void) | undefined;
  let closed = false;
  const channel = createChannel<ConversationEvent>(() => {
    closed = true;
    stopListening?.();
    void ctx.sessions.leave(conversationId, ctx.viewer).catch((err) => ctx.log.warn({ err }, 'leaving a chat session failed'));
  });
  // Live events wait here until the text so far of streaming replies has been sent.
  const early: ConversationEvent[] = [];
  let replaying = true;
  const catchUp = new CatchUp();
  const forward = (event: ConversationEvent) => catchUp.pass(event).forEach((passed) => channel.writer.push(passed));
  // A deleted conversation's subscriptions end at once, with what a new one would get.
  const close = () => channel.writer.fail(notFound('Conversation'));
  stopListening = await ctx.bus.listen(
    conversationId,
    (event) => (event.kind === CONVERSATION_CLOSED ? close() : replaying ? early.push(event) : forward(event)),
    () => channel.writer.fail(unavailable('Live events were interrupted; subscribe again to catch up.')),
  );
  // Deleted between the check above and listening: no event will say so, the row does.
  const [owner] = await ctx.store.ownersOf([conversationId]);
  if (!owner || owner.deleted_at) close();
  await ctx.sessions.join(conversationId);
  for (const event of catchUp.start(await ctx.bus.progress(conversationId), early)) channel.writer.push(event);
  replaying = false;
  early.forEach(forward);
  if (closed) stopListening();
  return channel.iterator;
}
