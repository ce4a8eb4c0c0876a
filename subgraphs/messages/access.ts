/** Who may read what in the messages subgraph: a conversation's messages are its owner's and admins'. */
import { canAccess, requireViewer } from '@chat/shared/auth';
import { badInput, forbidden, notFound } from '@chat/shared/errors';
import type { Context } from './context';
import type { MessageRow } from './store';

/** True when the viewer may read the conversation's messages (its owner, or an admin). */
export async function mayRead(ctx: Context, conversationId: string): Promise<boolean> {
  const owner = await ctx.loaders.owner.load(conversationId);
  return owner !== null && canAccess(ctx.viewer, owner.user_id);
}

/** The message, when the viewer may read its conversation; null otherwise. */
export async function visibleMessage(ctx: Context, id: string): Promise<MessageRow | null> {
  const message = await ctx.loaders.message.load(id);
  return message && (await mayRead(ctx, message.conversation_id)) ? message : null;
}

/** A reply of the caller's (or, for admins, anyone's) conversation; NOT_FOUND otherwise. */
export async function reachableReply(ctx: Context, messageId: string): Promise<MessageRow> {
  requireViewer(ctx.viewer);
  const message = await ctx.store.byId(messageId);
  if (!message || !(await mayRead(ctx, message.conversation_id))) throw notFound('Message');
  if (message.role !== 'ASSISTANT' || !message.reply_to) throw badInput('messageId', 'is not a reply to a message');
  return message;
}

/** FORBIDDEN unless the caller is an admin. */
export function requireAdmin(ctx: Context, what: string): void {
  if (requireViewer(ctx.viewer).role !== 'ADMIN') throw forbidden(`Only admins may ${what}.`);
}
