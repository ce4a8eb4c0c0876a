/** cancelReply: a reply stops where it is, wherever it is being generated. */
import { setTimeout as sleep } from 'node:timers/promises';
import { reachableReply } from '../access';
import type { Context } from '../context';
import type { MessageRow } from '../store';

/** How long a cancel waits for the instance generating the reply to end it, before ending it here. */
export const REMOTE_CANCEL_WAIT_MS = 2_000;
/** How often that wait looks at the stored reply. */
const REMOTE_CANCEL_POLL_MS = 50;

/** Ends an open reply as CANCELLED, keeping its text so far. */
export async function stopReply(ctx: Context, reply: MessageRow): Promise<MessageRow> {
  if (await ctx.generator.cancel(reply.id)) return (await ctx.store.byId(reply.id))!;
  if (reply.status === 'STREAMING') {
    // Generated elsewhere: its instance ends it, so no delta follows the final event.
    await ctx.bus.requestCancel(reply.id);
    const deadline = Date.now() + REMOTE_CANCEL_WAIT_MS;
    while (Date.now() < deadline) {
      const now = await ctx.store.byId(reply.id);
      if (now && now.status !== 'PENDING' && now.status !== 'STREAMING') return now;
      await sleep(REMOTE_CANCEL_POLL_MS);
    }
  }
  // Not started anywhere (still queued), or its worker is gone: end it here, costing the text it kept.
  const now = (await ctx.store.byId(reply.id)) ?? reply;
  const used = now.status === 'STREAMING' ? { promptTokens: 0, priorChars: now.continued_from ?? 0 } : undefined;
  return (await ctx.replies.cancel(reply.id, { content: now.content }, used)) ?? (await ctx.store.byId(reply.id))!;
}

/** cancelReply: stops the reply; one already ended is returned as it is. */
export async function cancelReply(ctx: Context, messageId: string): Promise<MessageRow> {
  const reply = await reachableReply(ctx, messageId);
  return reply.status === 'PENDING' || reply.status === 'STREAMING' ? stopReply(ctx, reply) : reply;
}
