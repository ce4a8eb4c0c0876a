/**
 * recordConversationState: the conversations subgraph owns whether a conversation is deleted or
 * archived; this subgraph keeps a copy, written by it alone, because its own fields (message,
 * Conversation.messages, conversationEvents) must refuse a deleted conversation without asking.
 */
import { canAccess } from '@chat/shared/auth';
import { badInput, notFound } from '@chat/shared/errors';
import { requireService } from '@chat/shared/identity';
import { isUuid } from '@chat/shared/validate';
import type { Context } from '../context';
import { CONVERSATION_CLOSED } from '../realtime/events';

/** A DateTime argument as a Date (null stays null); BAD_USER_INPUT when it is no date. */
function dateOrNull(field: string, value: string | Date | null | undefined): Date | null {
  if (value == null) return null;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw badInput(field, 'must be an ISO-8601 date-time');
  return date;
}

/** Records the state; a deletion ends the conversation's open subscriptions on every instance. */
export async function recordConversationState(
  ctx: Context,
  args: { conversationId: string; deletedAt?: string | Date | null; archivedAt?: string | Date | null },
): Promise<boolean> {
  const actingFor = requireService(ctx, 'conversations');
  const deletedAt = dateOrNull('deletedAt', args.deletedAt);
  const archivedAt = dateOrNull('archivedAt', args.archivedAt);
  const owner = isUuid(args.conversationId) ? await ctx.loaders.owner.load(args.conversationId) : null;
  if (!owner || !canAccess(actingFor, owner.user_id)) throw notFound('Conversation');
  await ctx.store.lifecycle.setState(args.conversationId, { deletedAt, archivedAt });
  if (deletedAt) await ctx.bus.publish(args.conversationId, { kind: CONVERSATION_CLOSED, messageId: args.conversationId });
  return true;
}
