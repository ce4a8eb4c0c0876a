/** The conversationEvents subscription: a conversation's events as they happen, late joiners caught up first. */
import { requireViewer } from '@chat/shared/auth';
import { createChannel } from '@chat/shared/channel';
import { notFound } from '@chat/shared/errors';
import { mayRead } from '../access';
import type { Context } from '../context';
import type { ConversationEvent } from '../realtime/events';
import { unavailable } from './checks';

/**
 * conversationEvents: live events of one conversation. A subscriber joining while a reply
 * streams first gets its text so far as one delta; later deltas continue from there.
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
  const caughtUp = new Map<string, number>();
  const forward = (event: ConversationEvent) => {
    if (event.kind === 'REPLY_DELTA' && (caughtUp.get(event.messageId) ?? -1) >= (event.sequence ?? 0)) return;
    channel.writer.push(event);
  };
  stopListening = await ctx.bus.listen(
    conversationId,
    (event) => (replaying ? early.push(event) : forward(event)),
    () => channel.writer.fail(unavailable('Live events were interrupted; subscribe again to catch up.')),
  );
  await ctx.sessions.join(conversationId);
  for (const progress of await ctx.bus.progress(conversationId)) {
    // A reply that ended before this subscriber joined is history, unless its last events reached us.
    if (progress.ended && !early.some((event) => event.messageId === progress.replyId)) continue;
    caughtUp.set(progress.replyId, progress.sequence);
    channel.writer.push({ kind: 'REPLY_DELTA', messageId: progress.replyId, delta: progress.text, sequence: progress.sequence });
  }
  replaying = false;
  early.forEach(forward);
  if (closed) stopListening();
  return channel.iterator;
}
