/** Who may read what in the messages subgraph: a conversation's messages are its owner's and admins'. */
import { canAccess, requireViewer } from '@chat/shared/auth';
import { badInput, forbidden, notFound } from '@chat/shared/errors';
import type { Context } from './context';
import type { MessageRow } from './store';

/** True when the viewer may read the conversation's messages (its owner, or an admin) and it is not deleted. */
export async function mayRead(ctx: Context, conversationId: string): Promise<boolean> {
  const owner = await ctx.loaders.owner.load(conversationId);
  if (owner === null || owner.importing || owner.deleted_at || !canAccess(ctx.viewer, owner.user_id)) return false;
  // An admin reading someone else's conversation is an admin action.
  if (ctx.viewer && ctx.viewer.id !== owner.user_id) await ctx.loaders.adminReads.load(conversationId);
  return true;
}

/** The message, when the viewer may read its conversation and it is not deleted (then only messageTree shows it); null otherwise. */
export async function visibleMessage(ctx: Context, id: string): Promise<MessageRow | null> {
  const message = await ctx.loaders.message.load(id);
  return message && !message.deleted_at && (await mayRead(ctx, message.conversation_id)) ? message : null;
}

/** A reply of the caller's (or, for admins, anyone's) conversation; NOT_FOUND otherwise. */
export async function reachableReply(ctx: Context, messageId: string): Promise<MessageRow> {
  requireViewer(ctx.viewer);
  const message = await ctx.store.byId(messageId);
  if (!message || !(await mayRead(ctx, message.conversation_id))) throw notFound('Message');
  return asReply(message);
}

/** A message of one of the caller's own conversations, deleted or not: what the tree's changes act on. NOT_FOUND otherwise (admins too). */
export async function ownMessage(ctx: Context, messageId: string): Promise<MessageRow> {
  const viewer = requireViewer(ctx.viewer);
  const message = await ctx.store.byId(messageId);
  const owner = message && (await ctx.loaders.owner.load(message.conversation_id));
  if (!message || owner?.user_id !== viewer.id || owner.deleted_at) throw notFound('Message');
  return message;
}

/** The message when it is a reply (an ASSISTANT message answering another); BAD_USER_INPUT otherwise (a greeting, a user's message). */
export function asReply(message: MessageRow): MessageRow {
  if (message.role !== 'ASSISTANT' || !message.parent_id) throw badInput('messageId', 'is not a reply to a message');
  return message;
}

/** FORBIDDEN unless the caller is an admin. */
export function requireAdmin(ctx: Context, what: string): void {
  if (requireViewer(ctx.viewer).role !== 'ADMIN') throw forbidden(`Only admins may ${what}.`);
}
