/**
 * A conversation's life after it starts: archived, deleted (soft), restored. This subgraph owns that
 * state; the messages subgraph keeps a copy it is told of (recordConversationState), so its own
 * fields (messages, subscriptions) follow at once. The copy is written before this subgraph's own
 * row when a conversation leaves view and after it when one comes back, so no moment shows messages
 * of a conversation that is gone; a step that fails leaves the state as it was and answers an error.
 */
import { canAccess, requireViewer } from '@chat/shared/auth';
import { notFound } from '@chat/shared/errors';
import type { Context } from '../context';
import type { MutationResolvers } from '../generated/graphql';
import { RecordConversationStateDocument } from '../generated/peers/messages';
import type { ConversationRow } from '../store';

/** Tells the messages subgraph the conversation's state, acting for the caller. */
async function tellMessages(ctx: Context, row: Pick<ConversationRow, 'id' | 'deleted_at' | 'archived_at'>): Promise<void> {
  const viewer = requireViewer(ctx.viewer);
  await ctx.peers.messages.call(
    RecordConversationStateDocument,
    { conversationId: row.id, deletedAt: row.deleted_at?.toISOString() ?? null, archivedAt: row.archived_at?.toISOString() ?? null },
    { actingFor: viewer },
  );
}

/** A live conversation the viewer owns (or, as admin, may manage); NOT_FOUND otherwise. */
async function owned(ctx: Context, id: string): Promise<ConversationRow> {
  const viewer = requireViewer(ctx.viewer);
  const conversation = await ctx.loaders.conversation.load(id);
  if (!conversation || !canAccess(viewer, conversation.user_id)) throw notFound('Conversation');
  return conversation;
}

/** Archives or unarchives; the messages subgraph learns since when (retention counts from it). */
async function setArchived(ctx: Context, id: string, archived: boolean): Promise<ConversationRow> {
  const current = await owned(ctx, id);
  const archivedAt = archived ? (current.archived_at ?? new Date()) : null;
  // Told first: when the messages subgraph cannot be told, nothing changes.
  await tellMessages(ctx, { ...current, archived_at: archivedAt });
  const updated = await ctx.store.update(id, { status: archived ? 'ARCHIVED' : 'ACTIVE', archived_at: archivedAt });
  if (!updated) throw notFound('Conversation');
  return updated;
}

export const lifecycleMutations: Pick<MutationResolvers, 'archiveConversation' | 'unarchiveConversation' | 'deleteConversation' | 'restoreConversation'> = {
  archiveConversation: (_root, { id }, ctx) => setArchived(ctx, id, true),
  unarchiveConversation: (_root, { id }, ctx) => setArchived(ctx, id, false),
  async deleteConversation(_root, { id }, ctx) {
    const current = await owned(ctx, id);
    const deletedAt = new Date();
    await tellMessages(ctx, { ...current, deleted_at: deletedAt });
    if (!(await ctx.store.setDeleted(id, deletedAt))) throw notFound('Conversation');
    ctx.loaders.conversation.clear(id);
    return true;
  },
  async restoreConversation(_root, { id }, ctx) {
    const viewer = requireViewer(ctx.viewer);
    const deleted = await ctx.store.deletedById(id);
    if (!deleted || !canAccess(viewer, deleted.user_id)) throw notFound('Conversation');
    const restored = await ctx.store.setDeleted(id, null);
    if (!restored) throw notFound('Conversation');
    try {
      await tellMessages(ctx, restored);
    } catch (error) {
      // Back as it was: a conversation restored here whose messages stay hidden would look empty.
      await ctx.store.setDeleted(id, deleted.deleted_at);
      throw error;
    }
    return restored;
  },
};
