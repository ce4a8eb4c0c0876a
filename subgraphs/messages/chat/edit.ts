/** editMessage: a new alternative of a message with other text (the message itself never changes). */
import { requireViewer } from '@chat/shared/auth';
import { badInput, conflict } from '@chat/shared/errors';
import { LIMITS, text } from '@chat/shared/validate';
import { ownMessage } from '../access';
import type { Context } from '../context';
import { screen } from '../moderation/policy';
import { DELETED, type MessageRow } from '../store';
import { chatTarget, checkRateLimit, refuseWhenFull, refuseWhileGenerating } from './checks';
import { holdReplyCredits, writeHeld } from './credits';
import { orConflict, publishCreated, publishPathChanged, queueReply } from './exchange';

/** What editMessage answers: the new alternative, and for a user's message the reply generated for it. */
export interface EditOutcome {
  message: MessageRow;
  reply: MessageRow | null;
}

/**
 * editMessage: the new alternative is made active. A user's message gets a new reply, generated
 * and charged as a send's (moderation, rate limit, credits held first); a reply's (or greeting's)
 * is COMPLETED as written, nothing generated. CONFLICT while a reply of the conversation is being written.
 */
export async function editMessage(ctx: Context, messageId: string, content: string): Promise<EditOutcome> {
  const viewer = requireViewer(ctx.viewer);
  const original = await ownMessage(ctx, messageId);
  if (original.role === 'SYSTEM') throw badInput('messageId', 'system messages cannot be edited');
  if (original.deleted_at) throw conflict(DELETED);
  const target = await chatTarget(ctx, viewer, original.conversation_id);
  const cleaned = text('content', content, { min: 1, max: LIMITS.messageMax });
  // Whatever the user writes passes the content policy; only their own messages keep the flags.
  const moderationFlags = await screen(ctx.store, original.conversation_id, viewer.id, cleaned);
  return ctx.writes.run(original.conversation_id, async () => {
    await refuseWhileGenerating(ctx, original.conversation_id);
    await refuseWhenFull(ctx, original.conversation_id, original.role === 'USER' ? 2 : 1);
    await checkRateLimit(ctx, viewer);
    if (original.role !== 'USER') {
      const { message, last } = await orConflict(ctx.store.addReplyEdit(original, cleaned));
      await publishCreated(ctx, message);
      await publishPathChanged(ctx, message, last);
      return { message, reply: null };
    }
    const hold = await holdReplyCredits(ctx, target, { leafId: original.parent_id, pending: { role: 'USER', content: cleaned } });
    const edit = await writeHeld(ctx, hold, viewer.id, () => ctx.store.addUserEdit(original, { authorId: viewer.id, content: cleaned, moderationFlags }, hold));
    await publishCreated(ctx, edit.message, edit.reply);
    await publishPathChanged(ctx, edit.message, edit.last);
    const reply = await queueReply(ctx, { ...target, replyId: edit.reply.id }, edit.reply);
    return { message: edit.message, reply };
  });
}
