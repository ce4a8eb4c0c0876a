/**
 * Personas through the gateway (create, list, update, delete, one default per user; another
 * user's is NOT_FOUND, `_entities` included) and what a conversation uses besides its character:
 * a persona and lorebooks of its user's, checked with their owners as it starts and changes.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestSystem, type TestSystem } from '../support/system';
import { createCharacter, expectError, expectOk, myConversationIds, START_TIMEOUT_MS } from '../e2e/helpers';
import { cardV2 } from './fixtures';
import { importCard } from './helpers';

const PERSONA_FIELDS = 'id name description isDefault deletedAt owner { id displayName }';
const CREATE = /* GraphQL */ `mutation($input: PersonaInput!) { createPersona(input: $input) { ${PERSONA_FIELDS} } }`;
const UPDATE = /* GraphQL */ `mutation($id: ID!, $input: PersonaInput!) { updatePersona(id: $id, input: $input) { ${PERSONA_FIELDS} } }`;
const DELETE = /* GraphQL */ `mutation($id: ID!) { deletePersona(id: $id) }`;
const MINE = /* GraphQL */ `query { me { personas { id name isDefault } } }`;
const ENTITIES = /* GraphQL */ `query($representations: [_Any!]!) { _entities(representations: $representations) { ... on Persona { id name description deletedAt } } }`;
const START = /* GraphQL */ `
  mutation($input: StartConversationInput!) {
    startConversation(input: $input) { id persona { id name description } lorebooks { id name entries { content } } }
  }`;
const UPDATE_CONVERSATION = /* GraphQL */ `
  mutation($id: ID!, $personaId: ID, $lorebookIds: [ID!], $title: String) {
    updateConversation(id: $id, personaId: $personaId, lorebookIds: $lorebookIds, title: $title) { id title persona { id name } lorebooks { id } }
  }`;
const CONVERSATION = /* GraphQL */ `query($id: ID!) { conversation(id: $id) { persona { id name deletedAt } lorebooks { id name deletedAt entries { content } } } }`;
const BOOK = /* GraphQL */ `mutation($input: LorebookInput!) { createLorebook(input: $input) { id name } }`;

describe('personas and what a conversation uses (pglite)', () => {
  let t: TestSystem;
  let alice: { token: string; id: string };
  let bob: { token: string; id: string };
  let admin: { token: string; id: string };
  let characterId: string;

  const create = async (token: string, input: Record<string, unknown>) => expectOk(await t.gql(CREATE, { input }, token)).createPersona;
  const mine = async (token: string) => expectOk(await t.gql(MINE, {}, token)).me.personas;
  const book = async (token: string, name: string) => expectOk(await t.gql(BOOK, { input: { name, entries: [{ keys: ['k'], content: `${name} lore.` }] } }, token)).createLorebook;

  beforeAll(async () => {
    t = await startTestSystem('pglite');
    [alice, bob, admin] = await Promise.all([t.signUp('Alice'), t.signUp('Bob'), t.signUpAdmin()]);
    characterId = (await createCharacter(t, alice.token, { name: 'Host', visibility: 'PUBLIC' })).id;
  }, START_TIMEOUT_MS);
  afterAll(() => t?.stop());

  it('creates, lists, updates and deletes personas, with one default at most', async () => {
    const sailor = await create(alice.token, { name: ' Sailor ', description: 'A sailor from Nantes.' });
    expect(sailor).toMatchObject({ name: 'Sailor', description: 'A sailor from Nantes.', isDefault: false, deletedAt: null, owner: { id: alice.id, displayName: 'Alice' } });
    const scholar = await create(alice.token, { name: 'Scholar', isDefault: true });
    expect(scholar).toMatchObject({ description: '', isDefault: true });
    const made = expectOk(await t.gql(UPDATE, { id: sailor.id, input: { name: 'Sailor', isDefault: true } }, alice.token)).updatePersona;
    expect(made).toMatchObject({ isDefault: true, description: 'A sailor from Nantes.' });
    expect((await mine(alice.token)).map((p: any) => [p.name, p.isDefault])).toEqual([['Sailor', true], ['Scholar', false]]);
    expect(expectOk(await t.gql(UPDATE, { id: sailor.id, input: { name: 'Old salt', isDefault: false } }, alice.token)).updatePersona).toMatchObject({ name: 'Old salt', isDefault: false });
    expect((await mine(alice.token)).filter((p: any) => p.isDefault)).toEqual([]);
    expect(expectOk(await t.gql(DELETE, { id: scholar.id }, alice.token)).deletePersona).toBe(true);
    expect((await mine(alice.token)).map((p: any) => p.id)).toEqual([sailor.id]);
    expectError(await t.gql(DELETE, { id: scholar.id }, alice.token), 'NOT_FOUND');
    expectError(await t.gql(CREATE, { input: { name: '' } }, alice.token), 'BAD_USER_INPUT', 'name');
    expectError(await t.gql(CREATE, { input: { name: 'x', description: 'y'.repeat(10_001) } }, alice.token), 'BAD_USER_INPUT', 'description');
    expectError(await t.gql(CREATE, { input: { name: 'Anon' } }), 'UNAUTHENTICATED');
  });

  it("answers another user's persona NOT_FOUND (update, delete, _entities), and lists personas for the user themself only", async () => {
    const secret = await create(alice.token, { name: 'Masked', description: 'SECRET-PERSONA' });
    expectError(await t.gql(UPDATE, { id: secret.id, input: { name: 'Stolen', isDefault: true } }, bob.token), 'NOT_FOUND');
    expectError(await t.gql(DELETE, { id: secret.id }, bob.token), 'NOT_FOUND');
    for (const token of [bob.token, undefined]) {
      const res = await t.subgraphGql('users', ENTITIES, { representations: [{ __typename: 'Persona', id: secret.id }] }, { token });
      expectError(res, 'NOT_FOUND');
      expect(JSON.stringify(res)).not.toContain('SECRET-PERSONA');
    }
    const own = await t.subgraphGql('users', ENTITIES, { representations: [{ __typename: 'Persona', id: secret.id }] }, { token: alice.token });
    expect(expectOk(own)._entities).toEqual([{ id: secret.id, name: 'Masked', description: 'SECRET-PERSONA', deletedAt: null }]);
    // Another user's list, through an entity reference to them, is not theirs to read.
    const res = await t.subgraphGql('users', `query($r: [_Any!]!) { _entities(representations: $r) { ... on User { personas { id } } } }`, { r: [{ __typename: 'User', id: alice.id }] }, { token: bob.token });
    expectError(res, 'FORBIDDEN');
    expect((await mine(bob.token))).toEqual([]);
  });

  it('starts a conversation with a persona and lorebooks of the caller, and refuses anyone else’s with NOT_FOUND, starting nothing', async () => {
    const persona = await create(bob.token, { name: 'Traveller', description: 'Bob, travelling.' });
    const [first, second] = [await book(bob.token, 'First'), await book(bob.token, 'Second')];
    const started = expectOk(await t.gql(START, { input: { characterId, personaId: persona.id, lorebookIds: [second.id, first.id, second.id] } }, bob.token)).startConversation;
    expect(started.persona).toEqual({ id: persona.id, name: 'Traveller', description: 'Bob, travelling.' });
    expect(started.lorebooks).toEqual([
      { id: second.id, name: 'Second', entries: [{ content: 'Second lore.' }] },
      { id: first.id, name: 'First', entries: [{ content: 'First lore.' }] },
    ]);
    const plain = expectOk(await t.gql(START, { input: { characterId } }, bob.token)).startConversation;
    expect(plain).toMatchObject({ persona: null, lorebooks: [] });

    const alicePersona = await create(alice.token, { name: 'Not Bob' });
    const aliceBook = await book(alice.token, 'Not Bobs');
    const publicCharacter = await importCard(t, alice.token, Buffer.from(JSON.stringify(cardV2('Lorey'))), 'PUBLIC');
    const before = await myConversationIds(t, bob.token);
    const refusals: Array<[string, Record<string, unknown>]> = [
      ["another user's persona", { personaId: alicePersona.id }],
      ['a persona that does not exist', { personaId: '00000000-0000-4000-8000-000000000000' }],
      ['no persona id at all', { personaId: 'nope' }],
      ["another user's lorebook", { lorebookIds: [first.id, aliceBook.id] }],
      ["a public character's embedded lorebook", { lorebookIds: [publicCharacter.lorebook.id] }],
    ];
    for (const [kind, extra] of refusals) {
      const res = await t.gql(START, { input: { characterId, ...extra } }, bob.token);
      expect({ kind, codes: res.errors?.map((e) => e.extensions?.code) }).toEqual({ kind, codes: ['NOT_FOUND'] });
    }
    expectError(await t.gql(START, { input: { characterId, lorebookIds: Array.from({ length: 21 }, () => crypto.randomUUID()) } }, bob.token), 'BAD_USER_INPUT', 'lorebookIds');
    expect(await myConversationIds(t, bob.token)).toEqual(before);
  });

  it('changes, keeps and clears the persona and lorebooks of a conversation', async () => {
    const persona = await create(bob.token, { name: 'Later' });
    const other = await create(bob.token, { name: 'Other' });
    const lore = await book(bob.token, 'Later lore');
    const { id } = expectOk(await t.gql(START, { input: { characterId, personaId: persona.id } }, bob.token)).startConversation;
    const set = expectOk(await t.gql(UPDATE_CONVERSATION, { id, personaId: other.id, lorebookIds: [lore.id] }, bob.token)).updateConversation;
    expect(set).toMatchObject({ persona: { id: other.id, name: 'Other' }, lorebooks: [{ id: lore.id }] });
    // Left out: kept.
    expect(expectOk(await t.gql(UPDATE_CONVERSATION, { id, title: 'Renamed' }, bob.token)).updateConversation).toMatchObject({ title: 'Renamed', persona: { id: other.id }, lorebooks: [{ id: lore.id }] });
    // null and []: back to the default persona, no lorebooks.
    expect(expectOk(await t.gql(UPDATE_CONVERSATION, { id, personaId: null, lorebookIds: [] }, bob.token)).updateConversation).toMatchObject({ persona: null, lorebooks: [] });
    const foreign = await create(alice.token, { name: 'Foreign' });
    expectError(await t.gql(UPDATE_CONVERSATION, { id, personaId: foreign.id }, bob.token), 'NOT_FOUND');
    expectError(await t.gql(UPDATE_CONVERSATION, { id, personaId: persona.id }, alice.token), 'NOT_FOUND');
  });

  it('keeps a deleted persona and lorebook visible to the conversation that uses them, marked deleted, the book empty', async () => {
    const persona = await create(bob.token, { name: 'Fleeting' });
    const lore = await book(bob.token, 'Fleeting lore');
    const { id } = expectOk(await t.gql(START, { input: { characterId, personaId: persona.id, lorebookIds: [lore.id] } }, bob.token)).startConversation;
    expectOk(await t.gql(DELETE, { id: persona.id }, bob.token));
    expectOk(await t.gql(`mutation($id: ID!) { deleteLorebook(id: $id) }`, { id: lore.id }, bob.token));
    const seen = expectOk(await t.gql(CONVERSATION, { id }, bob.token)).conversation;
    expect(seen.persona).toMatchObject({ id: persona.id, name: 'Fleeting', deletedAt: expect.any(String) });
    expect(seen.lorebooks).toEqual([{ id: lore.id, name: 'Fleeting lore', deletedAt: expect.any(String), entries: [] }]);
    // An admin sees the conversation with them too.
    expect(expectOk(await t.gql(CONVERSATION, { id }, admin.token)).conversation.persona.id).toBe(persona.id);
    // Deleted ones cannot be chosen again.
    expectError(await t.gql(UPDATE_CONVERSATION, { id, personaId: persona.id }, bob.token), 'NOT_FOUND');
    expectError(await t.gql(UPDATE_CONVERSATION, { id, lorebookIds: [lore.id] }, bob.token), 'NOT_FOUND');
  });
});
