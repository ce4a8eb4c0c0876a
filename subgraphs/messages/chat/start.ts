/** recordConversationStart: a new conversation's first message, its character's greeting, and its owner. */
import { canAccess, requireViewer } from '@chat/shared/auth';
import { notFound } from '@chat/shared/errors';
import type { Context } from '../context';
import { CharacterGreetingDocument } from '../generated/peers/characters';
import { ConversationStartDocument } from '../generated/peers/conversations';
import type { MessageRow } from '../store';

/** recordConversationStart: stores the greeting once and remembers the owner, for the owner (or an admin). */
export async function recordConversationStart(ctx: Context, conversationId: string): Promise<MessageRow> {
  const viewer = requireViewer(ctx.viewer);
  const { conversation } = await ctx.peers.conversations.call(ConversationStartDocument, { id: conversationId }, { actingFor: ctx });
  if (!conversation || !canAccess(viewer, conversation.user.id)) throw notFound('Conversation');
  const representations = [{ __typename: 'Character', id: conversation.character.id }];
  const [character] = (await ctx.peers.characters.call(CharacterGreetingDocument, { representations }, { actingFor: ctx }))._entities;
  if (character?.__typename !== 'Character') throw notFound('Character');
  const { greeting } = character;
  return ctx.store.recordStart(conversation.id, conversation.user.id, greeting);
}
