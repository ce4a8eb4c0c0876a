/** What the chat and tree actions share: announcing new messages and path changes, queueing replies, and store conflicts as CONFLICT. */
import { conflict } from '@chat/shared/errors';
import type { Context } from '../context';
import type { GenerationJob } from '../generation/job';
import { PathConflict, type MessageRow } from '../store';

/** Publishes MESSAGE_CREATED for each message, in order. */
export async function publishCreated(ctx: Context, ...messages: MessageRow[]): Promise<void> {
  for (const message of messages) {
    await ctx.bus.publish(message.conversation_id, { kind: 'MESSAGE_CREATED', messageId: message.id, message });
  }
}

/** Queues a stored reply (returned as stored); if the queue cannot take it, the reply ends FAILED rather than waiting forever. */
export async function queueReply(ctx: Context, job: GenerationJob, reply: MessageRow): Promise<MessageRow> {
  try {
    await ctx.generator.enqueue(job);
    return reply;
  } catch (err) {
    ctx.log.error({ err, replyId: job.replyId }, 'queueing a reply failed');
    const failed = await ctx.replies.fail(job.replyId, 'The reply could not be queued; regenerate it to try again.');
    return failed ?? (await ctx.store.byId(job.replyId)) ?? reply;
  }
}

/**
 * Publishes ACTIVE_PATH_CHANGED with the path's new last message (`last`); an empty path (its only
 * first message deleted) names the message acted on (`about`) and carries none.
 */
export async function publishPathChanged(ctx: Context, about: MessageRow, last: MessageRow | undefined): Promise<void> {
  await ctx.bus.publish(about.conversation_id, { kind: 'ACTIVE_PATH_CHANGED', messageId: last?.id ?? about.id, message: last ?? null });
}

/** The store's write, its refusals for the conversation's state (a reply being written, a path moved) answered as CONFLICT. */
export async function orConflict<T>(write: Promise<T>): Promise<T> {
  try {
    return await write;
  } catch (error) {
    if (error instanceof PathConflict) throw conflict(error.message);
    throw error;
  }
}
