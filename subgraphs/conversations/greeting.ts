/**
 * A new conversation's greeting and alternate greetings with their macros expanded: `{{char}}` the character's
 * name, `{{user}}` the persona the user starts it as (see chatPersona), asked of the users subgraph for the user.
 */
import type { ActingFor } from '@chat/shared/service-auth';
import { chatPersona, expandMacros } from '@chat/shared/macros';
import type { Context } from './context';
import { GreetingPersonaDocument } from './generated/peers/users';

/** The greetings a character gives, as RecordCharacterUse reads them. */
export interface Greetings {
  name: string;
  greeting: string;
  alternateGreetings: readonly string[];
}

/** The name `{{user}}` stands for in a conversation of `userId`'s with persona `personaId` (null: their default). */
export async function userName(ctx: Context, caller: ActingFor, userId: string, personaId: string | null): Promise<string> {
  const representations = [{ __typename: 'User', id: userId }, ...(personaId ? [{ __typename: 'Persona', id: personaId }] : [])];
  const { _entities: [user, named] } = await ctx.peers.users.call(GreetingPersonaDocument, { representations }, { actingFor: caller });
  return chatPersona(named?.__typename === 'Persona' ? named : null, user?.__typename === 'User' ? user : null).name;
}

/** The greeting and its alternatives with `{{char}}` and `{{user}}` replaced. */
export function expandGreetings(character: Greetings, user: string): { greeting: string; alternateGreetings: string[] } {
  const names = { char: character.name, user };
  return { greeting: expandMacros(character.greeting, names), alternateGreetings: character.alternateGreetings.map((text) => expandMacros(text, names)) };
}
