/** Input limits through the gateway: BAD_USER_INPUT naming the field, nothing written, and no server errors for bad requests. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MAX_BODY_BYTES } from '@chat/shared/http';
import { startTestSystem, uniqueName, type TestSystem } from '../support/system';
import { createCharacter, expectError, expectOk, forgeCursor, myConversationIds, START_TIMEOUT_MS, startConversation } from './helpers';

const CREATE = /* GraphQL */ `mutation($input: CharacterInput!) { createCharacter(input: $input) { id name tags } }`;
const REGISTER = /* GraphQL */ `mutation($input: RegisterInput!) { register(input: $input) { user { id } } }`;
const START = /* GraphQL */ `mutation($input: StartConversationInput!) { startConversation(input: $input) { id title } }`;

describe('input limits (postgres)', () => {
  let t: TestSystem;
  let alice: { token: string; id: string };
  let character: { id: string };
  let conversationId: string;

  beforeAll(async () => {
    t = await startTestSystem('postgres');
    alice = await t.signUp('Alice');
    character = await createCharacter(t, alice.token, { name: 'Limit Tester', visibility: 'PUBLIC' });
    conversationId = (await startConversation(t, alice.token, character.id)).id;
  }, START_TIMEOUT_MS);
  afterAll(() => t?.stop());

  /** Every character Alice can list: a refused create must not change it. */
  const allCharacters = async () =>
    expectOk(await t.gql(`{ characters(first: 100) { edges { node { id } } } }`, {}, alice.token)).characters.edges.map((e: any) => e.node.id);

  it('refuses characters over the limits, naming the field, and writes nothing', async () => {
    const before = await allCharacters();
    const refused: Array<[Record<string, unknown>, string]> = [
      [{ name: 'x'.repeat(201) }, 'name'],
      [{ name: '' }, 'name'],
      [{ name: '   ' }, 'name'],
      [{ name: '\u0000\u0001' }, 'name'],
      [{ name: 'Tagged', tags: Array.from({ length: 11 }, (_, i) => `tag${i}`) }, 'tags'],
      [{ name: 'Tagged', tags: ['t'.repeat(51)] }, 'tags'],
      [{ name: 'Tagged', tags: ['fine', ' '] }, 'tags'],
      [{ name: 'Wordy', description: 'd'.repeat(10_001) }, 'description'],
      [{ name: 'Wordy', systemPrompt: 's'.repeat(20_001) }, 'systemPrompt'],
    ];
    for (const [input, field] of refused) {
      const res = await t.gql(CREATE, { input }, alice.token);
      expectError(res, 'BAD_USER_INPUT', field);
      expect(res.data?.createCharacter ?? null).toBeNull();
    }
    expect(await allCharacters()).toEqual(before);
    // Right at the limits is fine.
    const edge = await createCharacter(t, alice.token, { name: 'n'.repeat(200), tags: Array.from({ length: 10 }, (_, i) => `${i}`.padEnd(50, 't')) });
    expect(edge.name).toHaveLength(200);
    expect(edge.tags).toHaveLength(10);
  });

  it('refuses updates over the limits and leaves the character as it was', async () => {
    const update = `mutation($id: ID!, $input: CharacterUpdateInput!) { updateCharacter(id: $id, input: $input) { id } }`;
    for (const [input, field] of [
      [{ name: 'y'.repeat(201) }, 'name'],
      [{ name: '' }, 'name'],
      [{ tags: Array.from({ length: 11 }, (_, i) => `t${i}`) }, 'tags'],
    ] as const) {
      expectError(await t.gql(update, { id: character.id, input }, alice.token), 'BAD_USER_INPUT', field);
    }
    const now = expectOk(await t.gql(`query($id: ID!) { character(id: $id) { name tags } }`, { id: character.id }, alice.token)).character;
    expect(now).toEqual({ name: 'Limit Tester', tags: [] });
  });

  it('refuses conversation titles and tags over the limits', async () => {
    const before = await myConversationIds(t, alice.token);
    expectError(await t.gql(START, { input: { characterId: character.id, title: 't'.repeat(201) } }, alice.token), 'BAD_USER_INPUT', 'title');
    expectError(await t.gql(START, { input: { characterId: character.id, title: ' ' } }, alice.token), 'BAD_USER_INPUT', 'title');
    expectError(await t.gql(START, { input: { characterId: character.id, tags: ['x'.repeat(51)] } }, alice.token), 'BAD_USER_INPUT', 'tags');
    expectError(await t.gql(START, { input: { characterId: character.id, settings: { temperature: 3 } } }, alice.token), 'BAD_USER_INPUT', 'temperature');
    expect(await myConversationIds(t, alice.token)).toEqual(before);
    const update = `mutation($id: ID!, $title: String) { updateConversation(id: $id, title: $title) { title } }`;
    expectError(await t.gql(update, { id: conversationId, title: 't'.repeat(201) }, alice.token), 'BAD_USER_INPUT', 'title');
    expect(expectOk(await t.gql(update, { id: conversationId, title: 't'.repeat(200) }, alice.token)).updateConversation.title).toHaveLength(200);
  });

  it('refuses bad registrations, naming the field, and creates no account', async () => {
    const email = `${uniqueName('limits')}@example.com`;
    const good = { email, password: 'long enough password', displayName: 'Limits' };
    const refused: Array<[Record<string, string>, string]> = [
      [{ email: 'not-an-email' }, 'email'],
      [{ email: 'two@@example.com' }, 'email'],
      [{ email: 'no-domain@' }, 'email'],
      [{ email: 'spaces in@example.com' }, 'email'],
      [{ password: '123456789' }, 'password'],
      [{ password: 'p'.repeat(201) }, 'password'],
      [{ displayName: '' }, 'displayName'],
      [{ displayName: '   ' }, 'displayName'],
      [{ displayName: 'd'.repeat(101) }, 'displayName'],
    ];
    for (const [override, field] of refused) expectError(await t.gql(REGISTER, { input: { ...good, ...override } }), 'BAD_USER_INPUT', field);
    // None of the refused attempts took the email.
    expectOk(await t.gql(REGISTER, { input: good }));
  });

  it('refuses page sizes outside 0..100 on every list', async () => {
    const lists = [
      (first: number) => t.gql(`query($first: Int) { characters(first: $first) { edges { cursor } } }`, { first }, alice.token),
      (first: number) => t.gql(`query($first: Int) { me { conversations(first: $first) { edges { cursor } } } }`, { first }, alice.token),
      (first: number) =>
        t.gql(`query($id: ID!, $first: Int) { conversation(id: $id) { messages(first: $first) { edges { cursor } } } }`, { id: conversationId, first }, alice.token),
    ];
    for (const read of lists) {
      for (const first of [-1, 101]) expectError(await read(first), 'BAD_USER_INPUT', 'first');
      expect((await read(100)).errors).toBeUndefined();
    }
  });

  it('refuses malformed and forged cursors as BAD_USER_INPUT', async () => {
    const genuine = expectOk(await t.gql(`{ characters(first: 1) { pageInfo { endCursor } } }`, {}, alice.token)).characters.pageInfo.endCursor;
    expect(typeof genuine).toBe('string');
    const timeAndId = [
      'garbage',
      '',
      forgeCursor(['x', 'y']),
      forgeCursor([new Date().toISOString(), 'not-a-uuid']),
      forgeCursor(['not-a-date', '00000000-0000-4000-8000-000000000000']),
      forgeCursor(['-100000-01-01T00:00:00.000Z', '00000000-0000-4000-8000-000000000000']),
      forgeCursor([1, 2]),
      forgeCursor({ a: 1 }),
      forgeCursor([new Date().toISOString()]),
    ];
    for (const after of timeAndId) {
      expectError(await t.gql(`query($after: String) { characters(after: $after) { edges { cursor } } }`, { after }, alice.token), 'BAD_USER_INPUT', 'after');
      expectError(
        await t.gql(`query($after: String) { me { conversations(after: $after) { edges { cursor } } } }`, { after }, alice.token),
        'BAD_USER_INPUT',
        'after',
      );
    }
    const messages = await t.gql(`query($id: ID!) { conversation(id: $id) { messages(after: "garbage") { edges { cursor } } } }`, { id: conversationId }, alice.token);
    expectError(messages, 'BAD_USER_INPUT', 'after');
    // A genuine cursor still works.
    expect((await t.gql(`query($after: String) { characters(after: $after) { edges { cursor } } }`, { after: genuine }, alice.token)).errors).toBeUndefined();
  });

  it('refuses over-long search and tag filters', async () => {
    expectError(await t.gql(`query($s: String) { characters(search: $s) { edges { cursor } } }`, { s: 's'.repeat(201) }), 'BAD_USER_INPUT', 'search');
    expectError(await t.gql(`query($s: String) { characters(tag: $s) { edges { cursor } } }`, { s: 's'.repeat(51) }), 'BAD_USER_INPUT', 'tag');
  });

  it('answers malformed requests with a client error, never a server error', async () => {
    const post = (body: string, contentType = 'application/json') =>
      fetch(t.gatewayUrl, { method: 'POST', headers: { 'content-type': contentType, authorization: `Bearer ${alice.token}` }, body });
    const requests: Array<[string, Promise<Response>]> = [
      ['syntax error', post(JSON.stringify({ query: '{ me { id ' }))],
      ['unknown field', post(JSON.stringify({ query: '{ me { password } }' }))],
      ['not JSON', post('{ this is not json')],
      ['no query', post(JSON.stringify({ variables: {} }))],
      ['query not a string', post(JSON.stringify({ query: 42 }))],
      ['wrong variable type', post(JSON.stringify({ query: 'query($n: Int) { characters(first: $n) { edges { cursor } } }', variables: { n: 'ten' } }))],
      ['empty body', post('')],
    ];
    for (const [kind, pending] of requests) {
      const response = await pending;
      const body = await response.text();
      expect([kind, response.status >= 400 && response.status < 500]).toEqual([kind, true]);
      expect(body).not.toContain('INTERNAL_SERVER_ERROR');
    }
    // A body over the limit is refused before it is read in full.
    const huge = await post(JSON.stringify({ query: `{ me { id } }`, variables: { pad: 'x'.repeat(MAX_BODY_BYTES + 1) } }));
    expect(huge.status).toBe(413);
  });
});
