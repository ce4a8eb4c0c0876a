/** regenerateReply: a new reply as an alternative of one on the active path, generated from the history above it. */
import { requireViewer } from '@chat/shared/auth';
import { conflict } from '@chat/shared/errors';
import { reachableReply } from '../access';
import type { Context } from '../context';
import type { MessageRow } from '../store';
import { chatTarget, checkRateLimit, refuseWhenFull, refuseWhileGenerating } from './checks';
import { holdReplyCredits, writeHeld } from './credits';
import { publishCreated, publishPathChanged, queueReply } from './exchange';

/** Why a reply off the active path cannot be regenerated. */
export const OFF_PATH = 'Only a reply on the active path can be regenerated; select it first (selectAlternative).';

/**
 * regenerateReply: a new PENDING reply to the same message, made active (the old one and what is
 * below it stay, off the path), and queued. CONFLICT while a reply of the conversation is being
 * written (so of concurrent regenerations exactly one is stored) or for a reply off the path.
 */
export async function regenerateReply(ctx: Context, messageId: string): Promise<MessageRow> {
  const viewer = requireViewer(ctx.viewer);
  const old = await reachableReply(ctx, messageId);
  const target = await chatTarget(ctx, viewer, old.conversation_id);
  return ctx.writes.run(old.conversation_id, async () => {
    await refuseWhileGenerating(ctx, old.conversation_id);
    const now = await ctx.store.byId(old.id);
    if (!now?.active || now.deleted_at) throw conflict(OFF_PATH);
    await refuseWhenFull(ctx, old.conversation_id, 1);
    await checkRateLimit(ctx, viewer);
    const hold = await holdReplyCredits(ctx, target, { leafId: old.parent_id });
    const { reply, last } = await writeHeld(ctx, hold, viewer.id, () => ctx.store.addReplyAlternative(old, hold));
    await publishCreated(ctx, reply);
    await publishPathChanged(ctx, reply, last);
    return queueReply(ctx, { ...target, replyId: reply.id }, reply);
  });
}
