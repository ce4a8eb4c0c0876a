/** regenerateReply: the conversation's latest reply is replaced by a new one from the same history. */
import { requireViewer } from '@chat/shared/auth';
import { conflict } from '@chat/shared/errors';
import { reachableReply } from '../access';
import type { Context } from '../context';
import type { MessageRow } from '../store';
import { stopReply } from './cancel';
import { chatTarget, checkRateLimit } from './checks';
import { holdReplyCredits } from './credits';
import { publishCreated, queueReply } from './exchange';

/** regenerateReply: a new PENDING reply takes the old one's place (which is stopped if still open) and is queued. */
export async function regenerateReply(ctx: Context, messageId: string): Promise<MessageRow> {
  const viewer = requireViewer(ctx.viewer);
  const old = await reachableReply(ctx, messageId);
  const target = await chatTarget(ctx, viewer, old.conversation_id);
  if (old.replaced_by) throw conflict('This reply has already been replaced.');
  const latest = await ctx.store.latest(old.conversation_id);
  if (latest?.id !== old.id) throw conflict('Only the latest reply of a conversation can be regenerated.');
  await checkRateLimit(ctx, viewer);
  const hold = await holdReplyCredits(ctx, target, old.seq);
  // Of concurrent regenerations exactly one takes the old reply's place; the others hold nothing.
  const reply = await ctx.store.replaceReply(old, hold);
  if (!reply) {
    await ctx.store.releaseUnused(hold, viewer.id);
    ctx.settler.kick();
    throw conflict('This reply has already been replaced.');
  }
  if (old.status === 'PENDING' || old.status === 'STREAMING') await stopReply(ctx, old);
  await publishCreated(ctx, reply);
  return queueReply(ctx, { ...target, replyId: reply.id }, reply);
}
