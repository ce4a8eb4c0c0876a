/** deleteMessage and restoreMessage: soft deletion of a message and everything below it, and its undoing. */
import { ownMessage } from '../access';
import { orConflict, publishPathChanged } from '../chat/exchange';
import type { Context } from '../context';
import type { MessageRow, PathChange } from '../store';

/**
 * deleteMessage: the message and everything below it get `deletedAt` (nothing is removed: retention
 * purges them later); the active path moves to the nearest remaining alternative, or ends at the
 * parent. CONFLICT while a reply among them is being written. A deleted message is returned as it is.
 */
export function deleteMessage(ctx: Context, messageId: string): Promise<MessageRow> {
  return changePath(ctx, messageId, (message) => ctx.store.tree.remove(message));
}

/**
 * restoreMessage: the message and what was deleted with it come back, and the active path runs
 * through it again. CONFLICT while the message above it stays deleted. A message not deleted is returned as it is.
 */
export function restoreMessage(ctx: Context, messageId: string): Promise<MessageRow> {
  return changePath(ctx, messageId, (message) => ctx.store.tree.restore(message));
}

/** Applies a change to the caller's own message and announces where the active path now ends. */
async function changePath(ctx: Context, messageId: string, change: (message: MessageRow) => Promise<PathChange>): Promise<MessageRow> {
  const { message, last } = await orConflict(change(await ownMessage(ctx, messageId)));
  await publishPathChanged(ctx, message, last);
  return message;
}
