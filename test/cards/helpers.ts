/** Operations and helpers the card, lorebook, persona and image tests share. */
import { expect } from '@jest/globals';
import type { GqlResponse, TestSystem } from '../support/system';
import { expectOk } from '../e2e/helpers';

export const LOREBOOK_FIELDS = /* GraphQL */ `
  id name description scanDepth tokenBudget recursiveScanning deletedAt owner { id }
  entries { keys secondaryKeys selective constant enabled caseSensitive useRegex insertionOrder priority position content comment }`;

/** Every field of a character a card carries, and its lorebook. */
export const CARD_CHARACTER_FIELDS = /* GraphQL */ `
  id name description personality scenario greeting exampleDialogue systemPrompt tags visibility
  alternateGreetings postHistoryInstructions creatorNotes creator characterVersion avatarUrl owner { id }
  lorebook { ${LOREBOOK_FIELDS} }`;

export const IMPORT = /* GraphQL */ `
  mutation($input: ImportCharacterInput!) { importCharacter(input: $input) { ${CARD_CHARACTER_FIELDS} } }`;
export const EXPORT = /* GraphQL */ `
  mutation($id: ID!, $format: CharacterCardFormat!) { exportCharacter(id: $id, format: $format) { filename mimeType base64 } }`;
export const MY_CHARACTER_IDS = /* GraphQL */ `query { characters(first: 100) { edges { node { id owner { id } } } } }`;
export const MY_LOREBOOK_IDS = /* GraphQL */ `query { lorebooks(first: 100) { edges { node { id } } } }`;

/** Imports a card file (bytes, or base64 already); fails the test when refused. */
export async function importCard(t: TestSystem, token: string, file: Buffer | string, visibility?: 'PUBLIC' | 'PRIVATE'): Promise<any> {
  const base64 = typeof file === 'string' ? file : file.toString('base64');
  return expectOk(await t.gql(IMPORT, { input: { file: base64, ...(visibility ? { visibility } : {}) } }, token)).importCharacter;
}

/** Exports a character; fails the test when refused. */
export async function exportCard(t: TestSystem, token: string | undefined, id: string, format: string): Promise<{ filename: string; mimeType: string; data: Buffer }> {
  const file = expectOk(await t.gql(EXPORT, { id, format }, token)).exportCharacter;
  return { filename: file.filename, mimeType: file.mimeType, data: Buffer.from(file.base64, 'base64') };
}

/** Ids of the characters `userId` owns, as they list them. */
export async function ownCharacterIds(t: TestSystem, token: string, userId: string): Promise<string[]> {
  const res = expectOk(await t.gql(MY_CHARACTER_IDS, {}, token));
  return res.characters.edges.map((e: any) => e.node).filter((n: any) => n.owner.id === userId).map((n: any) => n.id).sort();
}

/** Ids of the caller's own lorebooks. */
export async function ownLorebookIds(t: TestSystem, token: string): Promise<string[]> {
  return expectOk(await t.gql(MY_LOREBOOK_IDS, {}, token)).lorebooks.edges.map((e: any) => e.node.id).sort();
}

/** A character as the API shows it, without what differs between two imports of one card (its id, its image's URL, its book's id). */
export function sameness(character: any) {
  const { id: _id, avatarUrl: _url, lorebook, ...rest } = character;
  return { ...rest, hasImage: Boolean(character.avatarUrl), lorebook: lorebook && { ...lorebook, id: undefined } };
}

/** The response is BAD_USER_INPUT on `file`, its message containing `text`. */
export function expectFileRefused(res: GqlResponse, text: string): void {
  expect(res.status).toBeLessThan(500);
  expect(res.errors?.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);
  expect(res.errors![0].extensions?.field).toBe('file');
  expect(res.errors![0].message).toContain(text);
}
