/**
 * What a conversation uses besides its character: a persona of its user's (users subgraph) and
 * lorebooks of its user's (characters subgraph). Both are checked with their owners, through
 * `_entities` acting for the caller: a persona or book the caller may not see is NOT_FOUND there;
 * one they see but that is not the conversation's user's (a public character's book), or that is
 * deleted, is NOT_FOUND here.
 */
import type { ActingFor } from '@chat/shared/service-auth';
import { badInput, notFound } from '@chat/shared/errors';
import { isUuid, LIMITS } from '@chat/shared/validate';
import type { Context } from './context';
import { ConversationLorebooksDocument } from './generated/peers/characters';
import { ConversationPersonaDocument } from './generated/peers/users';

/** An entity as the peer answers it: null for one it does not know. */
type Owned = { id: string; owner: { id: string }; deletedAt?: string | null } | { __typename?: string } | null;

/** Whether an answered entity is a live one of `ownerId`'s. */
function ownedBy(entity: Owned, ownerId: string): boolean {
  return entity !== null && 'owner' in entity && entity.owner.id === ownerId && !entity.deletedAt;
}

/** The persona id, checked to be a live persona of `ownerId`'s; null stays null (the default). */
export async function checkPersona(ctx: Context, caller: ActingFor, ownerId: string, personaId: string | null): Promise<string | null> {
  if (personaId === null) return null;
  if (!isUuid(personaId)) throw notFound('Persona');
  const { _entities } = await ctx.peers.users.call(ConversationPersonaDocument, { representations: [{ __typename: 'Persona', id: personaId }] }, { actingFor: caller });
  if (!ownedBy(_entities[0] ?? null, ownerId)) throw notFound('Persona');
  return personaId;
}

/** The lorebook ids, once each in the order given, checked to be live books of `ownerId`'s (at most LIMITS.conversationLorebooksMax). */
export async function checkLorebooks(ctx: Context, caller: ActingFor, ownerId: string, lorebookIds: readonly string[]): Promise<string[]> {
  const ids = [...new Set(lorebookIds)];
  if (ids.length > LIMITS.conversationLorebooksMax) throw badInput('lorebookIds', `at most ${LIMITS.conversationLorebooksMax} lorebooks (got ${ids.length})`);
  if (ids.length === 0) return [];
  if (!ids.every(isUuid)) throw notFound('Lorebook');
  const representations = ids.map((id) => ({ __typename: 'Lorebook', id }));
  const { _entities } = await ctx.peers.characters.call(ConversationLorebooksDocument, { representations }, { actingFor: caller });
  if (_entities.length !== ids.length || !_entities.every((entity) => ownedBy(entity, ownerId))) throw notFound('Lorebook');
  return ids;
}
