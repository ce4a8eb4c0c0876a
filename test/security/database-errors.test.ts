/**
 * Input the database would refuse must be refused first, as BAD_USER_INPUT: it used to reach
 * PostgreSQL and come back to the client as INTERNAL_SERVER_ERROR with the database's own message
 * ("date/time field value out of range" for a cursor dated year 0000, "invalid byte sequence for
 * encoding UTF8" for a NUL in a registration email, "integer out of range" for large integers).
 * And whatever still fails inside a subgraph reaches clients as the code and a generic message.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { INTERNAL_ERROR_MESSAGE } from '@chat/shared/error-masking';
import { ENGINES, startTestSystem, uniqueName, type GqlResponse, type TestSystem } from '../support/system';
import { createCharacter, errorCodes, expectError, expectOk, forgeCursor, START_TIMEOUT_MS, startConversation } from '../e2e/helpers';
import { collect, wsClient } from '../support/ws';

/** What PostgreSQL says when it is handed what it cannot take; none of it may reach a client. */
const DATABASE_MESSAGES = /out of range|invalid byte sequence|invalid input syntax|violates|syntax error at|relation "|column "/i;
const INT4_MAX = 2_147_483_647;
const NIL_UUID = '00000000-0000-0000-0000-000000000000';
/** A cursor at the given instant, in the shape the timestamp-sorted lists write. */
const cursorAt = (instant: string) => forgeCursor([instant, NIL_UUID]);

/** Never a server error, never a database message; `code` when given. */
function expectRefusedCleanly(res: GqlResponse, code?: string): void {
  expect(res.status).toBeLessThan(500);
  expect(errorCodes(res)).not.toContain('INTERNAL_SERVER_ERROR');
  expect(JSON.stringify(res)).not.toMatch(DATABASE_MESSAGES);
  if (code) expectError(res, code);
}

describe.each(ENGINES)('input the database would refuse (%s)', (engine) => {
  let t: TestSystem;
  let user: { token: string; id: string; email: string };
  let conversationId: string;

  beforeAll(async () => {
    t = await startTestSystem(engine);
    user = await t.signUp('Fuzzed');
    const character = await createCharacter(t, user.token, { name: 'Target', visibility: 'PUBLIC' });
    conversationId = (await startConversation(t, user.token, character.id)).id;
  }, START_TIMEOUT_MS);
  afterAll(() => t?.stop());

  it('refuses a cursor dated year 0000 (no such year in PostgreSQL) on every timestamp-sorted list, through the gateway and at the subgraphs', async () => {
    const after = cursorAt('0000-01-01T00:00:00.000Z');
    const userRef = { representations: [{ __typename: 'User', id: user.id }] };
    const attempts = [
      await t.gql(`query($c: String) { characters(after: $c) { edges { cursor } } }`, { c: after }),
      await t.gql(`query($c: String) { me { conversations(after: $c) { edges { cursor } } } }`, { c: after }, user.token),
      // At the subgraphs, as the gateway's fetches for the user would ask.
      await t.subgraphGql('characters', `query($c: String) { characters(after: $c) { edges { cursor } } }`, { c: after }, { token: user.token }),
      await t.subgraphGql(
        'conversations',
        `query($r: [_Any!]!, $c: String) { _entities(representations: $r) { ... on User { conversations(after: $c) { edges { cursor } } } } }`,
        { ...userRef, c: after },
        { token: user.token },
      ),
    ];
    for (const res of attempts) expectRefusedCleanly(res, 'BAD_USER_INPUT');
    // The first and last instants of the range are fine (newest first: nothing is older than year 1).
    const page = async (instant: string) => expectOk(await t.gql(`query($c: String) { characters(after: $c) { edges { cursor } } }`, { c: cursorAt(instant) })).characters.edges;
    expect(await page('0001-01-01T00:00:00.000Z')).toEqual([]);
    expect((await page('9999-12-31T23:59:59.999Z')).length).toBeGreaterThan(0);
  });

  it('refuses a NUL in a registration email as BAD_USER_INPUT, and takes NULs and control characters in other text without a server error', async () => {
    const register = (email: string, displayName = 'Nul') =>
      t.gql(`mutation($i: RegisterInput!) { register(input: $i) { user { displayName } } }`, { i: { email, password: 'correct horse battery', displayName } });
    expectRefusedCleanly(await register(`nul\u0000${uniqueName('x')}@example.com`), 'BAD_USER_INPUT');
    expectRefusedCleanly(await register(`${uniqueName('x')}@exa\u0001mple.com`), 'BAD_USER_INPUT');
    // Elsewhere control characters are dropped as the text is stored.
    expect(expectOk(await register(`${uniqueName('x')}@example.com`, 'Nu\u0000ll')).register.user.displayName).toBe('Null');
    expectRefusedCleanly(await t.gql(`mutation($i: LoginInput!) { login(input: $i) { accessToken } }`, { i: { email: `\u0000${user.email}`, password: '\u0000' } }), 'UNAUTHENTICATED');

    const nul = 'a\u0000b\u0007c';
    const texts: Array<[string, Record<string, unknown>]> = [
      [`mutation($i: CharacterInput!) { createCharacter(input: $i) { name description tags } }`, { i: { name: nul, description: nul, systemPrompt: nul, tags: [nul] } }],
      [`query($s: String, $t: String) { characters(search: $s, tag: $t) { edges { cursor } } }`, { s: nul, t: nul }],
      [`mutation($id: ID!, $t: String, $g: [String!]) { updateConversation(id: $id, title: $t, tags: $g) { title } }`, { id: conversationId, t: nul, g: [nul] }],
      [`mutation($id: ID!) { updateConversation(id: $id, settings: { model: "m\\u0000odel" }) { settings { model } } }`, { id: conversationId }],
      [`mutation($id: ID!, $c: String!) { sendMessage(input: { conversationId: $id, content: $c, clientMessageId: $c }) { message { content } } }`, { id: conversationId, c: nul }],
    ];
    for (const [query, variables] of texts) {
      const res = await t.gql(query, variables, user.token);
      expectRefusedCleanly(res);
      expect(JSON.stringify(res.data ?? null)).not.toContain('\\u0000');
    }
  });

  it('refuses integers beyond what the lists and settings take as BAD_USER_INPUT, and never lets one overflow a balance', async () => {
    const large: Array<[string, Record<string, unknown>]> = [
      [`query($n: Int) { characters(first: $n) { edges { cursor } } }`, { n: INT4_MAX }],
      [`query($n: Int) { me { conversations(first: $n) { edges { cursor } } } }`, { n: INT4_MAX }],
      [`query($id: ID!, $n: Int) { conversation(id: $id) { messages(last: $n) { edges { cursor } } } }`, { id: conversationId, n: INT4_MAX }],
      [`mutation($id: ID!, $n: Int) { updateConversation(id: $id, settings: { maxTokens: $n }) { id } }`, { id: conversationId, n: INT4_MAX }],
      [`mutation($id: ID!, $n: Int) { updateConversation(id: $id, settings: { contextWindowTokens: $n }) { id } }`, { id: conversationId, n: INT4_MAX }],
      [`mutation($id: ID!, $n: Int) { updateConversation(id: $id, settings: { maxTokens: $n }) { id } }`, { id: conversationId, n: -INT4_MAX - 1 }],
    ];
    for (const [query, variables] of large) expectRefusedCleanly(await t.gql(query, variables, user.token), 'BAD_USER_INPUT');
    // Past int32, GraphQL itself refuses the variable.
    expectRefusedCleanly(await t.gql(`query($n: Int) { characters(first: $n) { edges { cursor } } }`, { n: INT4_MAX + 1 }));

    // The internal hold, asked straight at the users subgraph as the messages service would for the user: the largest amount twice, then a negative one.
    const hold = (amount: number, key: string) =>
      t.subgraphGql('users', `mutation($i: CreditHoldInput!) { holdCredits(input: $i) { held balance } }`, { i: { key, replyId: randomUUID(), amount, reason: 'reply' } }, {
        as: 'messages',
        actingFor: { id: user.id, role: 'USER' },
      });
    const credits = async () => expectOk(await t.gql(`{ me { credits } }`, {}, user.token)).me.credits as number;
    const before = await credits();
    for (const key of ['big-1', 'big-2']) expectRefusedCleanly(await hold(INT4_MAX, key));
    expectRefusedCleanly(await hold(-1, 'negative'), 'BAD_USER_INPUT');
    // Nothing overflowed, nothing was taken that the balance could not cover.
    expect(await credits()).toBe(before);
  });
});

describe('a failure inside a subgraph (pglite)', () => {
  let t: TestSystem;
  let subscriber: { token: string };
  let conversationId: string;
  beforeAll(async () => {
    t = await startTestSystem('pglite');
    subscriber = await t.signUp('Subscriber');
    const character = await createCharacter(t, subscriber.token, { name: 'Listener' });
    conversationId = (await startConversation(t, subscriber.token, character.id)).id;
  }, START_TIMEOUT_MS);
  afterAll(async () => {
    // The characters database is closed already; the rest stops as usual.
    await t?.stop().catch(() => undefined);
  });

  it("answers INTERNAL_SERVER_ERROR with a generic message, never the failure's own, at the subgraph and through the gateway", async () => {
    const query = `{ characters(first: 1) { edges { cursor } } }`;
    expectOk(await t.gql(query));
    // Its database goes away under a running characters subgraph: every read now fails inside it.
    await t.system.subgraphs.characters.service.close();
    for (const res of [await t.subgraphGql('characters', query), await t.gql(query)]) {
      expect(res.errors?.map((e) => [e.message, e.extensions?.code])).toEqual([[INTERNAL_ERROR_MESSAGE, 'INTERNAL_SERVER_ERROR']]);
      expect(JSON.stringify(res)).not.toMatch(/closed|destroyed|pglite|kysely/i);
    }
  });

  it('masks a failure in a subscription at the subgraph (graphql-ws) the same way', async () => {
    // The messages subgraph's database goes away: subscribing reads it to check the caller.
    await t.system.subgraphs.messages.service.close();
    // As the gateway opens it: the subscriber's token and the gateway's service token for messages.
    const client = wsClient(t.system.subgraphs.messages.url, subscriber.token, { serviceToken: () => t.keyring.signer('gateway').token('messages') });
    try {
      const events = collect(client, `subscription($id: ID!) { conversationEvents(conversationId: $id) { kind } }`, { id: conversationId }, 'conversationEvents');
      await events.done;
      expect(events.errors.map((e: any) => [e.message, e.extensions?.code])).toEqual([[INTERNAL_ERROR_MESSAGE, 'INTERNAL_SERVER_ERROR']]);
      expect(JSON.stringify(events.errors)).not.toMatch(/closed|destroyed|pglite|kysely/i);
    } finally {
      await client.dispose();
    }
  });
});
