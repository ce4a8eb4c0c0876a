/** setConversationLanguage (internal): the conversations subgraph changed a conversation's language; its messages are searched in it from now on. */
import { canAccess, requireViewer } from '@chat/shared/auth';
import { notFound } from '@chat/shared/errors';
import { requireService } from '@chat/shared/identity';
import { searchLanguage } from '@chat/shared/search-languages';
import type { Context } from '../context';

/** The conversations service only, acting for the conversation's owner or an admin; NOT_FOUND for anyone else's. */
export async function setConversationLanguage(ctx: Context, conversationId: string, language: string): Promise<boolean> {
  requireService(ctx, 'conversations');
  const viewer = requireViewer(ctx.viewer);
  const checked = searchLanguage('language', language);
  const owner = await ctx.loaders.owner.load(conversationId);
  if (!owner || !canAccess(viewer, owner.user_id)) throw notFound('Conversation');
  await ctx.store.search.setLanguage(conversationId, checked);
  return true;
}
