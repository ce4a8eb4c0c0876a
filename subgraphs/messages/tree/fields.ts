/** The tree's fields: a message's parent and alternatives, and every message of every branch of a conversation. */
import { pageWindow, toConnection, type Connection, type PageArgs } from '@chat/shared/pagination';
import type { Context } from '../context';
import { messageCursor, siblingKey, type MessageRow } from '../store';

/** A message's alternatives, oldest first: every message with its parent, deleted ones left out (but itself always in). */
export async function alternatives(message: MessageRow, ctx: Context): Promise<MessageRow[]> {
  const siblings = await ctx.loaders.alternatives.load(siblingKey(message));
  return siblings.filter((sibling) => !sibling.deleted_at || sibling.id === message.id);
}

/** This message's position among its alternatives, from 0. */
export async function alternativeIndex(message: MessageRow, ctx: Context): Promise<number> {
  return (await alternatives(message, ctx)).findIndex((sibling) => sibling.id === message.id);
}

/** The message above it (its conversation's, so as visible as the message itself). */
export async function parent(message: MessageRow, ctx: Context): Promise<MessageRow | null> {
  return message.parent_id ? ctx.loaders.message.load(message.parent_id) : null;
}

/**
 * Conversation.messageTree: every message of every branch, oldest first (a parent always before its
 * children), cursor-paginated; one query a page, its parents and alternatives batched.
 */
export async function messageTree(
  conversation: { id: string },
  args: Pick<PageArgs, 'first' | 'after'> & { includeDeleted?: boolean | null },
  ctx: Context,
): Promise<Connection<MessageRow>> {
  const window = pageWindow({ first: args.first, after: args.after }, ['integer']);
  const rows = await ctx.store.tree.page(conversation.id, window, args.includeDeleted ?? false);
  for (const row of rows) ctx.loaders.message.prime(row.id, row);
  return toConnection(rows, window, messageCursor);
}
