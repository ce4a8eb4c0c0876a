/**
 * Lorebooks through the gateway: create, read, list, update, delete, import (SillyTavern World Info,
 * character_book, lorebook_v3); another user's book is NOT_FOUND everywhere, `_entities` included;
 * a character's embedded book is seen with the character and changed only by its owner.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestSystem, type TestSystem } from '../support/system';
import { expectError, expectOk, readAllPages, START_TIMEOUT_MS } from '../e2e/helpers';
import { base64, cardV2, characterBook, worldInfo } from './fixtures';
import { importCard, LOREBOOK_FIELDS, ownLorebookIds } from './helpers';

const CREATE = /* GraphQL */ `mutation($input: LorebookInput!) { createLorebook(input: $input) { ${LOREBOOK_FIELDS} createdAt updatedAt character { id } } }`;
const UPDATE = /* GraphQL */ `mutation($id: ID!, $input: LorebookInput!) { updateLorebook(id: $id, input: $input) { ${LOREBOOK_FIELDS} updatedAt } }`;
const DELETE = /* GraphQL */ `mutation($id: ID!) { deleteLorebook(id: $id) }`;
const GET = /* GraphQL */ `query($id: ID!) { lorebook(id: $id) { ${LOREBOOK_FIELDS} } }`;
const IMPORT = /* GraphQL */ `mutation($file: String!) { importLorebook(file: $file) { ${LOREBOOK_FIELDS} } }`;
const LIST = /* GraphQL */ `query($first: Int, $after: String) { lorebooks(first: $first, after: $after) { edges { cursor node { id name } } pageInfo { hasNextPage endCursor } } }`;
const ENTITIES = /* GraphQL */ `query($representations: [_Any!]!) { _entities(representations: $representations) { ... on Lorebook { id name owner { id } deletedAt entries { content } } } }`;

describe('lorebooks (pglite)', () => {
  let t: TestSystem;
  let alice: { token: string; id: string };
  let bob: { token: string; id: string };
  let admin: { token: string; id: string };

  /** The book as the characters subgraph answers `_entities` for `token`'s user (the gateway's fetch). */
  const entity = (id: string, token?: string) => t.subgraphGql('characters', ENTITIES, { representations: [{ __typename: 'Lorebook', id }] }, { token });
  const create = async (token: string, input: Record<string, unknown>) => expectOk(await t.gql(CREATE, { input }, token)).createLorebook;

  beforeAll(async () => {
    t = await startTestSystem('pglite');
    [alice, bob, admin] = await Promise.all([t.signUp('Alice'), t.signUp('Bob'), t.signUpAdmin()]);
  }, START_TIMEOUT_MS);
  afterAll(() => t?.stop());

  it('creates a book with defaults, reads it, and replaces its entries on update', async () => {
    const book = await create(alice.token, { name: ' Atlas ', entries: [{ keys: ['Paris'], content: 'The capital.' }, { keys: ['Rome'], content: 'Old.', constant: true, position: 'AFTER_CHARACTER', priority: 5 }] });
    expect(book).toMatchObject({ name: 'Atlas', description: '', scanDepth: 2, tokenBudget: 2048, recursiveScanning: false, owner: { id: alice.id }, character: null, deletedAt: null });
    expect(book.entries).toEqual([
      { keys: ['Paris'], secondaryKeys: [], selective: false, constant: false, enabled: true, caseSensitive: false, useRegex: false, insertionOrder: 100, priority: 10, position: 'BEFORE_CHARACTER', content: 'The capital.', comment: '' },
      { keys: ['Rome'], secondaryKeys: [], selective: false, constant: true, enabled: true, caseSensitive: false, useRegex: false, insertionOrder: 100, priority: 5, position: 'AFTER_CHARACTER', content: 'Old.', comment: '' },
    ]);
    expect(expectOk(await t.gql(GET, { id: book.id }, alice.token)).lorebook).toMatchObject({ id: book.id, name: 'Atlas' });
    const renamed = expectOk(await t.gql(UPDATE, { id: book.id, input: { name: 'Atlas II', scanDepth: 6 } }, alice.token)).updateLorebook;
    expect(renamed).toMatchObject({ name: 'Atlas II', scanDepth: 6, entries: book.entries });
    const replaced = expectOk(await t.gql(UPDATE, { id: book.id, input: { name: 'Atlas II', entries: [{ keys: ['Oslo'], content: 'Cold.' }] } }, alice.token)).updateLorebook;
    expect(replaced.entries.map((e: any) => e.keys)).toEqual([['Oslo']]);
    expectError(await t.gql(UPDATE, { id: book.id, input: { name: 'x', entries: Array.from({ length: 1001 }, () => ({ keys: ['k'], content: 'c' })) } }, alice.token), 'BAD_USER_INPUT', 'entries');
    expectError(await t.gql(CREATE, { input: { name: 'x', tokenBudget: -5 } }, alice.token), 'BAD_USER_INPUT', 'tokenBudget');
    expectError(await t.gql(CREATE, { input: { name: 'Anon' } }), 'UNAUTHENTICATED');
  });

  it("lists the caller's own books newest first with cursors, without embedded ones or anyone else's", async () => {
    const own = await create(bob.token, { name: 'Bob one' });
    const second = await create(bob.token, { name: 'Bob two' });
    await importCard(t, bob.token, Buffer.from(JSON.stringify(cardV2('Has a book'))));
    await create(alice.token, { name: 'Not Bob' });
    const pages = await readAllPages(async (after) => expectOk(await t.gql(LIST, { first: 1, after }, bob.token)).lorebooks);
    expect(pages.flatMap((p) => p.edges.map((e) => e.node.id))).toEqual([second.id, own.id]);
  });

  it('imports SillyTavern World Info, a character_book and a lorebook_v3 file', async () => {
    const fromWorldInfo = expectOk(await t.gql(IMPORT, { file: base64(worldInfo()) }, alice.token)).importLorebook;
    expect(fromWorldInfo).toMatchObject({ name: 'Imported lorebook', owner: { id: alice.id } });
    expect(fromWorldInfo.entries).toEqual([
      { keys: ['Atlantis', 'sunken city'], secondaryKeys: ['ruins'], selective: true, constant: false, enabled: true, caseSensitive: false, useRegex: false, insertionOrder: 100, priority: 10, position: 'BEFORE_CHARACTER', content: 'Atlantis lies under the Atlantic.', comment: 'The lost city' },
      { keys: ['squid'], secondaryKeys: [], selective: false, constant: true, enabled: false, caseSensitive: false, useRegex: false, insertionOrder: 50, priority: 10, position: 'AFTER_CHARACTER', content: 'A giant squid attacks ships.', comment: '' },
    ]);
    const fromBook = expectOk(await t.gql(IMPORT, { file: base64(characterBook()) }, alice.token)).importLorebook;
    expect(fromBook).toMatchObject({ name: 'Nautilus lore', scanDepth: 4, tokenBudget: 1024, recursiveScanning: true });
    const fromV3 = expectOk(await t.gql(IMPORT, { file: base64({ spec: 'lorebook_v3', data: { ...characterBook(), name: 'V3 book' } }) }, alice.token)).importLorebook;
    expect(fromV3.entries).toEqual(fromBook.entries);
    const before = await ownLorebookIds(t, alice.token);
    for (const [file, text] of [
      ['%%%', 'must be base64'],
      [base64({ entries: 'none' }), 'is not a lorebook'],
      [base64({ entries: [{ keys: 'a', content: 'b' }] }), 'entries[0].keys: must be an array of strings'],
    ]) {
      const res = await t.gql(IMPORT, { file }, alice.token);
      expectError(res, 'BAD_USER_INPUT', 'file');
      expect(res.errors![0].message).toContain(text);
    }
    expect(await ownLorebookIds(t, alice.token)).toEqual(before);
  });

  it("answers another user's book NOT_FOUND: read, update, delete and _entities alike", async () => {
    const book = await create(alice.token, { name: 'Private notes', entries: [{ keys: ['k'], content: 'Secret lore.' }] });
    expect(expectOk(await t.gql(GET, { id: book.id }, bob.token)).lorebook).toBeNull();
    expect(expectOk(await t.gql(GET, { id: book.id })).lorebook).toBeNull();
    expectError(await t.gql(UPDATE, { id: book.id, input: { name: 'Mine now' } }, bob.token), 'NOT_FOUND');
    expectError(await t.gql(DELETE, { id: book.id }, bob.token), 'NOT_FOUND');
    for (const token of [bob.token, undefined]) {
      const res = await entity(book.id, token);
      expectError(res, 'NOT_FOUND');
      expect(JSON.stringify(res)).not.toContain('Secret lore');
    }
    expectError(await entity('not-a-uuid', alice.token), 'NOT_FOUND');
    expect(expectOk(await entity(book.id, alice.token))._entities).toEqual([{ id: book.id, name: 'Private notes', owner: { id: alice.id }, deletedAt: null, entries: [{ content: 'Secret lore.' }] }]);
    // Admins read it (a conversation they may see shows it) and may change it, as they may characters.
    expect(expectOk(await t.gql(GET, { id: book.id }, admin.token)).lorebook.id).toBe(book.id);
    expect(expectOk(await t.gql(UPDATE, { id: book.id, input: { name: 'Moderated' } }, admin.token)).updateLorebook.name).toBe('Moderated');
  });

  it('deletes softly: gone from reads and lists, still an empty entity for its owner', async () => {
    const book = await create(alice.token, { name: 'Doomed', entries: [{ keys: ['k'], content: 'Gone soon.' }] });
    expect(expectOk(await t.gql(DELETE, { id: book.id }, alice.token)).deleteLorebook).toBe(true);
    expect(expectOk(await t.gql(GET, { id: book.id }, alice.token)).lorebook).toBeNull();
    expect(await ownLorebookIds(t, alice.token)).not.toContain(book.id);
    expectError(await t.gql(DELETE, { id: book.id }, alice.token), 'NOT_FOUND');
    expectError(await t.gql(UPDATE, { id: book.id, input: { name: 'Back' } }, alice.token), 'NOT_FOUND');
    const [gone] = expectOk(await entity(book.id, alice.token))._entities;
    expect(gone).toMatchObject({ id: book.id, name: 'Doomed', entries: [], deletedAt: expect.any(String) });
    expectError(await entity(book.id, bob.token), 'NOT_FOUND');
  });

  it("shows a character's embedded book with the character, lets only its owner change it", async () => {
    const open = await importCard(t, alice.token, Buffer.from(JSON.stringify(cardV2('Open book'))), 'PUBLIC');
    const hidden = await importCard(t, alice.token, Buffer.from(JSON.stringify(cardV2('Closed book'))));
    const CHARACTER = `query($id: ID!) { character(id: $id) { lorebook { id name entries { content } character { id } } } }`;
    const seen = expectOk(await t.gql(CHARACTER, { id: open.id }, bob.token)).character.lorebook;
    expect(seen).toMatchObject({ id: open.lorebook.id, name: 'Nautilus lore', character: { id: open.id } });
    expect(expectOk(await entity(open.lorebook.id, bob.token))._entities[0].id).toBe(open.lorebook.id);
    // The caller's own books are theirs: a public character's book is not Bob's to read by id, nor to change.
    expect(expectOk(await t.gql(GET, { id: open.lorebook.id }, bob.token)).lorebook).toBeNull();
    expectError(await t.gql(UPDATE, { id: open.lorebook.id, input: { name: 'Hijacked' } }, bob.token), 'FORBIDDEN');
    expectError(await entity(hidden.lorebook.id, bob.token), 'NOT_FOUND');
    expectError(await t.gql(UPDATE, { id: hidden.lorebook.id, input: { name: 'Hijacked' } }, bob.token), 'NOT_FOUND');
    const edited = expectOk(await t.gql(UPDATE, { id: open.lorebook.id, input: { name: 'Edited lore' } }, alice.token)).updateLorebook;
    expect(edited.name).toBe('Edited lore');
    expect(expectOk(await t.gql(CHARACTER, { id: open.id }, bob.token)).character.lorebook.name).toBe('Edited lore');
    // Deleting the embedded book leaves the character without one.
    expectOk(await t.gql(DELETE, { id: open.lorebook.id }, alice.token));
    expect(expectOk(await t.gql(CHARACTER, { id: open.id }, alice.token)).character.lorebook).toBeNull();
  });
});
