/** continueReply: the active path's last reply is written on, in the same message. */
import { randomUUID } from 'node:crypto';
import { requireViewer } from '@chat/shared/auth';
import { conflict } from '@chat/shared/errors';
import { asReply, ownMessage } from '../access';
import type { Context } from '../context';
import type { MessageRow } from '../store';
import { chatTarget, checkRateLimit, refuseWhileGenerating } from './checks';
import { holdReplyCredits, writeHeld } from './credits';
import { queueReply } from './exchange';

/** Why only the path's end can be continued. */
export const NOT_PATH_END = 'Only the last message of the active path can be continued.';

/**
 * continueReply: the reply streams again from its text so far. Its first event is MESSAGE_UPDATED
 * (STREAMING, the text so far); its deltas carry only the new text, and only the new tokens are
 * charged, under a hold of its own. CONFLICT while a reply of the conversation is being written,
 * or when the reply is not the active path's last message.
 */
export async function continueReply(ctx: Context, messageId: string): Promise<MessageRow> {
  const viewer = requireViewer(ctx.viewer);
  const reply = asReply(await ownMessage(ctx, messageId));
  const target = await chatTarget(ctx, viewer, reply.conversation_id);
  return ctx.writes.run(reply.conversation_id, async () => {
    await refuseWhileGenerating(ctx, reply.conversation_id);
    const now = await ctx.store.byId(reply.id);
    if (!now || (await ctx.store.pathEnd(reply.conversation_id))?.id !== now.id) throw conflict(NOT_PATH_END);
    await checkRateLimit(ctx, viewer);
    // Each continuation holds under a key of its own: the reply's first hold settles once, and so does each of these.
    const hold = await holdReplyCredits(ctx, target, {
      leafId: now.parent_id,
      pending: { role: 'ASSISTANT', content: now.content },
      replyId: now.id,
      key: `${now.id}:continue:${randomUUID()}`,
    });
    const streaming = await writeHeld(ctx, hold, viewer.id, () => ctx.store.startContinuation(now, hold));
    await ctx.bus.publish(streaming.conversation_id, { kind: 'MESSAGE_UPDATED', messageId: streaming.id, message: streaming });
    return queueReply(ctx, { ...target, replyId: streaming.id, continuation: hold.holdKey }, streaming);
  });
}
