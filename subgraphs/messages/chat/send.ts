/** sendMessage: the checks in the contract's order, then the message and a PENDING reply, stored together, and the reply queued. */
import { requireViewer } from '@chat/shared/auth';
import { conflict } from '@chat/shared/errors';
import { LIMITS, text } from '@chat/shared/validate';
import type { Context } from '../context';
import { RecordActivityDocument } from '../generated/peers/conversations';
import { screen } from '../moderation/policy';
import type { MessageRow } from '../store';
import { chatTarget, checkRateLimit } from './checks';
import { holdReplyCredits } from './credits';
import { publishCreated, queueReply } from './exchange';

/** The most messages one conversation may hold (the seeds' limit). */
export const MAX_MESSAGES_PER_CONVERSATION = 10_000;
/** The longest clientMessageId accepted. */
const CLIENT_MESSAGE_ID_MAX = 200;

/** What sendMessage asks for. */
export interface SendMessageInput {
  conversationId: string;
  content: string;
  clientMessageId?: string | null;
}

/** sendMessage: returns at once with the user's message and its reply, PENDING (or further along on a repeat). */
export async function sendMessage(ctx: Context, input: SendMessageInput): Promise<{ message: MessageRow; reply: MessageRow }> {
  const viewer = requireViewer(ctx.viewer);
  const target = await chatTarget(ctx, viewer, input.conversationId);
  const clientMessageId = input.clientMessageId == null ? null : text('clientMessageId', input.clientMessageId, { min: 1, max: CLIENT_MESSAGE_ID_MAX });
  if (clientMessageId) {
    const earlier = await ctx.store.exchangeByClientId(target.conversationId, clientMessageId);
    if (earlier) return earlier;
  }
  const content = text('content', input.content, { min: 1, max: LIMITS.messageMax });
  const moderationFlags = await screen(ctx.store, target.conversationId, viewer.id, content);
  if ((await ctx.store.countInPlace(target.conversationId)) >= MAX_MESSAGES_PER_CONVERSATION) {
    throw conflict(`A conversation holds at most ${MAX_MESSAGES_PER_CONVERSATION} messages; start a new one.`);
  }
  await checkRateLimit(ctx, viewer);
  const hold = await holdReplyCredits(ctx, target, Number.MAX_SAFE_INTEGER, { role: 'USER', content });
  const exchange = await ctx.store.createExchange({ conversationId: target.conversationId, authorId: viewer.id, content, clientMessageId, moderationFlags, hold });
  if (!exchange) {
    // A concurrent send with the same clientMessageId won the race: its hold is the one that counts.
    await ctx.store.releaseUnused(hold, viewer.id);
    ctx.settler.kick();
    return (await ctx.store.exchangeByClientId(target.conversationId, clientMessageId!))!;
  }
  await publishCreated(ctx, exchange.message, exchange.reply);
  const reply = await queueReply(ctx, { ...target, replyId: exchange.reply.id }, exchange.reply);
  ctx.peers.conversations
    .call(RecordActivityDocument, { conversationId: target.conversationId }, { actingFor: ctx.viewer })
    .catch((err) => ctx.log.warn({ err }, 'recording conversation activity failed'));
  return { message: exchange.message, reply };
}
