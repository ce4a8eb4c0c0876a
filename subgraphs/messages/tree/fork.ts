/** forkConversation: a new conversation from the path down to a message, the caller's own. */
import { randomUUID } from 'node:crypto';
import { requireViewer } from '@chat/shared/auth';
import { conflict } from '@chat/shared/errors';
import { ownMessage } from '../access';
import { orConflict } from '../chat/exchange';
import type { Context } from '../context';
import { RecordForkDocument } from '../generated/peers/conversations';
import { DELETED, type ConversationRef } from '../store';

/**
 * forkConversation: the messages of the path down to the message are copied under a new id, then
 * the conversations subgraph records the conversation under that id (same character, settings and
 * persona; the title given, or the source's marked as a fork). Copied first so that a conversation
 * never exists without its messages: when recording fails, the copies are dropped.
 */
export async function forkConversation(ctx: Context, messageId: string, title: string | null | undefined): Promise<ConversationRef> {
  const viewer = requireViewer(ctx.viewer);
  const message = await ownMessage(ctx, messageId);
  if (message.deleted_at) throw conflict(DELETED);
  const forkId = randomUUID();
  await orConflict(ctx.store.tree.copyPath(message.id, forkId, viewer.id));
  try {
    await ctx.peers.conversations.call(RecordForkDocument, { sourceId: message.conversation_id, forkId, title: title ?? null }, { actingFor: ctx.viewer });
  } catch (error) {
    await ctx.store.tree.dropCopy(forkId);
    throw error;
  }
  return { id: forkId };
}
