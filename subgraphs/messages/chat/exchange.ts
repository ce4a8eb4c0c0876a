/** What sending and regenerating share: announcing new messages, and queueing their reply. */
import type { Context } from '../context';
import type { GenerationJob } from '../generation/job';
import type { MessageRow } from '../store';

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
