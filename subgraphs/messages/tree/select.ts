/** selectAlternative: the active path moves through another alternative (a swipe, another edit, another greeting). */
import { ownMessage } from '../access';
import { orConflict, publishPathChanged } from '../chat/exchange';
import type { Context } from '../context';
import type { ConversationRef } from '../store';

/**
 * selectAlternative: the active path runs through the message and, below it, the path that was
 * last active under it; ACTIVE_PATH_CHANGED announces its new last message. The conversation is
 * returned (its messages are the new path). NOT_FOUND for another user's message; CONFLICT for a deleted one.
 */
export async function selectAlternative(ctx: Context, messageId: string): Promise<ConversationRef> {
  const message = await ownMessage(ctx, messageId);
  const change = await orConflict(ctx.store.tree.select(message));
  await publishPathChanged(ctx, change.message, change.last);
  return { id: message.conversation_id };
}
