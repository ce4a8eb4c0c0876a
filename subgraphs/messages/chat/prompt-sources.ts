/**
 * What a conversation's replies are written from, besides its history: the character (with its card book), the
 * conversation's lorebooks and the persona the user chats as. Two peer calls side by side, each acting for the user.
 */
import { notFound } from '@chat/shared/errors';
import { chatPersona } from '@chat/shared/macros';
import type { Context } from '../context';
import { ChatCharacterDocument } from '../generated/peers/characters';
import type { ChatConversationQuery } from '../generated/peers/conversations';
import { ChatPersonaDocument } from '../generated/peers/users';
import type { PromptCharacter, PromptPersona } from '../llm';

/** The conversation as chatTarget reads it. */
type Conversation = NonNullable<ChatConversationQuery['conversation']>;

/**
 * The prompt's character for `conversation`: its fields and book, then the conversation's books in the order it
 * names them (a book the characters subgraph no longer gives is left out), and its persona (see {@link personaOf}).
 */
export async function promptCharacter(ctx: Context, conversation: Conversation): Promise<PromptCharacter> {
  const books = conversation.lorebooks.map(({ id }) => ({ __typename: 'Lorebook', id }));
  const [{ _entities: entities }, persona] = await Promise.all([
    ctx.peers.characters.call(ChatCharacterDocument, { representations: [{ __typename: 'Character', id: conversation.character.id }, ...books] }, { actingFor: ctx.viewer }),
    personaOf(ctx, conversation),
  ]);
  const [entity, ...lorebooks] = entities;
  if (entity?.__typename !== 'Character') throw notFound('Character');
  const { __typename, lorebook, ...character } = entity;
  const conversationBooks = lorebooks.flatMap((book) => (book?.__typename === 'Lorebook' ? [book] : []));
  return { ...character, persona, lorebooks: [...(lorebook ? [lorebook] : []), ...conversationBooks] };
}

/**
 * The persona the user chats as: the conversation's (kept even once deleted, as the conversation keeps it), else the
 * user's default persona, else their display name with no description.
 */
export async function personaOf(ctx: Context, conversation: Conversation): Promise<PromptPersona> {
  const representations = [{ __typename: 'User', id: conversation.user.id }, ...(conversation.persona ? [{ __typename: 'Persona', id: conversation.persona.id }] : [])];
  const { _entities: entities } = await ctx.peers.users.call(ChatPersonaDocument, { representations }, { actingFor: ctx.viewer });
  const [user, named] = entities;
  return chatPersona(named?.__typename === 'Persona' ? named : null, user?.__typename === 'User' ? user : null);
}
