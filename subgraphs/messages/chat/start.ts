/** recordConversationStart: a new conversation's first message, its character's greeting, and its owner. */
import { canAccess, requireViewer } from '@chat/shared/auth';
import { notFound } from '@chat/shared/errors';
import type { Context } from '../context';
import type { MessageRow } from '../store';

const START_QUERY = /* GraphQL */ `
  query ConversationStart($id: ID!) { conversation(id: $id) { id user { id } character { id } } }`;
const GREETING_QUERY = /* GraphQL */ `
  query CharacterGreeting($reps: [_Any!]!) { _entities(representations: $reps) { ... on Character { greeting } } }`;

/** recordConversationStart: stores the greeting once and remembers the owner, for the owner (or an admin). */
export async function recordConversationStart(ctx: Context, conversationId: string): Promise<MessageRow> {
  const viewer = requireViewer(ctx.viewer);
  const auth = { authorization: ctx.authorization };
  const { conversation } = await ctx.conversations.request<{
    conversation: { id: string; user: { id: string }; character: { id: string } } | null;
  }>(START_QUERY, { id: conversationId }, auth);
  if (!conversation || !canAccess(viewer, conversation.user.id)) throw notFound('Conversation');
  const { _entities } = await ctx.characters.request<{ _entities: Array<{ greeting: string } | null> }>(
    GREETING_QUERY,
    { reps: [{ __typename: 'Character', id: conversation.character.id }] },
    auth,
  );
  const greeting = _entities[0]?.greeting;
  if (greeting == null) throw notFound('Character');
  return ctx.store.recordStart(conversation.id, conversation.user.id, greeting);
}
