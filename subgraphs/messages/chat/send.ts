/** sendMessage: the checks in the contract's order, then the message and a PENDING reply below the active path's end, stored together, and the reply queued. */
import { requireViewer } from '@chat/shared/auth';
import { LIMITS, text } from '@chat/shared/validate';
import type { Context } from '../context';
import { RecordActivityDocument } from '../generated/peers/conversations';
import { screen } from '../moderation/policy';
import { messageContent } from '../templates/templates';
import type { Exchange } from '../store';
import { chatTarget, checkRateLimit, refuseWhenFull, refuseWhileGenerating } from './checks';
import { holdReplyCredits, releaseHold, writeHeld } from './credits';
import { publishCreated, queueReply } from './exchange';

/** The longest clientMessageId accepted. */
const CLIENT_MESSAGE_ID_MAX = 200;

/** What sendMessage asks for. */
export interface SendMessageInput {
  conversationId: string;
  /** The text; or, exclusively, templateId: one of the caller's templates, its macros expanded. */
  content?: string | null;
  templateId?: string | null;
  clientMessageId?: string | null;
}

/**
 * sendMessage: returns at once with the user's message, which answers the active path's last
 * message, and its reply, PENDING (or further along on a repeat of a clientMessageId). CONFLICT
 * while a reply of the conversation is being written.
 */
export async function sendMessage(ctx: Context, input: SendMessageInput): Promise<Exchange> {
  const viewer = requireViewer(ctx.viewer);
  const target = await chatTarget(ctx, viewer, input.conversationId);
  const { conversationId } = target;
  const clientMessageId = input.clientMessageId == null ? null : text('clientMessageId', input.clientMessageId, { min: 1, max: CLIENT_MESSAGE_ID_MAX });
  const earlier = clientMessageId ? await ctx.store.exchangeByClientId(conversationId, clientMessageId) : undefined;
  if (earlier) return earlier;
  const written = await messageContent(ctx, input, () => ({ char: target.character.name, user: target.character.persona?.name ?? '' }));
  const content = text('content', written, { min: 1, max: LIMITS.messageMax });
  const moderationFlags = await screen(ctx.store, conversationId, viewer.id, content);
  return ctx.writes.run(conversationId, async () => {
    // A repeat that waited for the first send: the first one's exchange.
    const stored = clientMessageId ? await ctx.store.exchangeByClientId(conversationId, clientMessageId) : undefined;
    if (stored) return stored;
    await refuseWhileGenerating(ctx, conversationId);
    await refuseWhenFull(ctx, conversationId, 2);
    await checkRateLimit(ctx, viewer);
    const end = await ctx.store.pathEnd(conversationId);
    const hold = await holdReplyCredits(ctx, target, { leafId: end?.id ?? null, pending: { role: 'USER', content } });
    const exchange = await writeHeld(ctx, hold, viewer.id, () =>
      ctx.store.createExchange({ conversationId, authorId: viewer.id, content, clientMessageId, moderationFlags, hold }),
    );
    if (exchange.earlier) {
      // A concurrent send with the same clientMessageId (on another instance) won the race: its hold is the one that counts.
      await releaseHold(ctx, hold, viewer.id);
      return { message: exchange.message, reply: exchange.reply };
    }
    await publishCreated(ctx, exchange.message, exchange.reply);
    const reply = await queueReply(ctx, { ...target, replyId: exchange.reply.id }, exchange.reply);
    ctx.peers.conversations
      .call(RecordActivityDocument, { conversationId }, { actingFor: ctx.viewer })
      .catch((err) => ctx.log.warn({ err }, 'recording conversation activity failed'));
    return { message: exchange.message, reply };
  });
}
