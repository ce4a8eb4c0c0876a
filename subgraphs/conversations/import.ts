/** recordImport: the conversation an imported chat file becomes (its messages are the messages subgraph's to store). */
import { requireViewer, type Viewer } from '@chat/shared/auth';
import { badInput, notFound } from '@chat/shared/errors';
import { requireService } from '@chat/shared/identity';
import { isUuid, LIMITS, text } from '@chat/shared/validate';
import type { Context } from './context';
import { RecordCharacterUseDocument } from './generated/peers/characters';
import type { ConversationRow, ConversationSettings } from './store';

/** What the messages subgraph asks for: the id it stored the messages under, the character, and a title (optional). */
export interface ImportRequest {
  conversationId: string;
  characterId: string;
  title?: string | null;
}

/**
 * recordImport (internal, the messages service only): a new conversation of the user it acts for, with a character
 * they may see (recorded as one they talk with, as startConversation does), under the id the imported messages were
 * stored with; default settings, their default persona. NOT_FOUND for a character they may not see.
 */
export async function recordImport(
  ctx: Context,
  request: ImportRequest,
  settingsFor: (viewer: Viewer) => Promise<ConversationSettings>,
): Promise<ConversationRow> {
  requireService(ctx, 'messages');
  const viewer = requireViewer(ctx.viewer);
  if (!isUuid(request.conversationId)) throw badInput('conversationId', 'must be a conversation id');
  const title = request.title == null ? undefined : text('title', request.title, { min: 1, max: LIMITS.titleMax }).trim();
  const { recordCharacterUse: character } = await ctx.peers.characters.call(RecordCharacterUseDocument, { characterId: request.characterId }, { actingFor: viewer });
  if (!character) throw notFound('Character');
  const settings = await settingsFor(viewer);
  return ctx.store.create({
    id: request.conversationId,
    user_id: viewer.id,
    character_id: character.id,
    title: title ?? `Imported chat with ${character.name}`.slice(0, LIMITS.titleMax),
    tags: [],
    settings,
  });
}
