/**
 * The gateway's GraphQL limits (gateway/src/limits.ts), CORS and CSRF prevention, tried through
 * the real gateway: over HTTP every limit is refused with BAD_USER_INPUT and a 4xx before
 * execution (an answer over the size limit, in its place), over graphql-ws the same rules refuse
 * the operation or the event. The rules themselves are unit-tested in gateway/src/limits.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { getIntrospectionQuery } from 'graphql';
import type { Client } from 'graphql-ws';
import { LIMITS } from '@chat/shared/validate';
import { messagesBus, sendOk, waitUntil, watchListeners } from '../chat/helpers';
import { startTestSystem, type TestSystem } from '../support/system';
import { wsClient } from '../support/ws';

const START_TIMEOUT_MS = 120_000;
const LISTED_ORIGIN = 'https://app.example.com';
/** This file's MAX_RESPONSE_BYTES: far above any answer of the other tests, below 15 of the largest characters. */
const MAX_RESPONSE_BYTES = 1_000_000;
/** A character's text fields (each at its longest: about 80 KB together). */
const CHARACTER_TEXT = 'description personality scenario greeting exampleDialogue systemPrompt';

/** The reported attack (issue 14, item 1): 30 conversations, each a page of messages, each message its conversation's page again. */
function nestedPagesQuery(conversationId: string, pageArguments: string, aliases = 30): string {
  const page = `messages${pageArguments} { edges { node { conversation { messages${pageArguments} { edges { node { id content } } } } } } }`;
  return Array.from({ length: aliases }, (_, i) => `c${i}: conversation(id: "${conversationId}") { ${page} }`).join(' ');
}

/** `message(id) { conversation { lastMessage { conversation { ... id } } } }`, `depth` fields deep. */
function deepSelection(depth: number): string {
  let inner = 'id';
  for (let level = depth - 1; level >= 1; level -= 1) inner = `${level % 2 === 1 ? 'conversation' : 'lastMessage'} { ${inner} }`;
  return inner;
}
const deepQuery = (depth: number) => `{ message(id: "m") { ${deepSelection(depth - 1)} } }`;

/** POSTs a raw body to the gateway. */
async function post(t: TestSystem, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(t.gatewayUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: response.status, headers: response.headers, body: (await response.json()) as any };
}

/** Expects a limit refusal: a 4xx, BAD_USER_INPUT naming the limit, and no data. */
function expectRefused(res: { status: number; data?: unknown; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> }, limit: string) {
  expect(res.status).toBeGreaterThanOrEqual(400);
  expect(res.status).toBeLessThan(500);
  expect(res.data).toBeUndefined();
  expect(res.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  expect(res.errors?.[0]?.extensions?.limit).toBe(limit);
  expect(res.errors?.[0]?.message).toMatch(/at most/);
}

/** The first thing graphql-ws answers an operation with: a result, the errors of an `error` message, or 'completed'. */
function firstAnswer(client: Client, query: string, variables: Record<string, unknown> = {}): Promise<any> {
  return new Promise((resolve) => {
    const stop = client.subscribe(
      { query, variables },
      {
        next: (value) => {
          stop();
          resolve(value);
        },
        error: (error) => resolve(error),
        complete: () => resolve('completed'),
      },
    );
  });
}

describe('gateway limits, CORS and CSRF', () => {
  let t: TestSystem;
  let token: string;

  beforeAll(async () => {
    t = await startTestSystem('pglite', { CORS_ORIGINS: `${LISTED_ORIGIN}, https://other.example.com`, MAX_RESPONSE_BYTES: String(MAX_RESPONSE_BYTES) });
    token = (await t.signUp('Limits')).token;
  }, START_TIMEOUT_MS);
  afterAll(() => t?.stop());

  it('accepts a normal contract query and GraphiQL’s introspection query', async () => {
    const me = await t.gql(`{ me { id displayName } characters(first: 20) { edges { node { id name } } } }`, {}, token);
    expect(me.status).toBe(200);
    expect(me.errors).toBeUndefined();
    expect(me.data.me.displayName).toBe('Limits');
    const introspection = await t.gql(getIntrospectionQuery());
    expect(introspection.status).toBe(200);
    expect(introspection.errors).toBeUndefined();
    expect(introspection.data.__schema.queryType.name).toBe('Query');
  });

  it('accepts a query at the depth limit and refuses one deeper, also through fragments', async () => {
    const atLimit = await t.gql(deepQuery(12), {}, token);
    expect(atLimit.errors?.[0]?.extensions?.code).not.toBe('BAD_USER_INPUT');
    expectRefused(await t.gql(deepQuery(13), {}, token), 'depth');
    const throughFragments = `
      query { message(id: "m") { ...A } }
      fragment A on Message { conversation { lastMessage { ...B } } }
      fragment B on Message { conversation { lastMessage { ...C } } }
      fragment C on Message { ${deepSelection(9)} }`;
    expectRefused(await t.gql(throughFragments, {}, token), 'depth');
  });

  it('refuses a fragment cycle with a 4xx instead of looping', async () => {
    const res = await t.gql(`{ message(id: "m") { ...A } } fragment A on Message { conversation { lastMessage { ...A } } }`, {}, token);
    expect(res.status).toBe(400);
    expect(res.errors?.[0]?.message).toMatch(/cannot spread fragment/i);
  });

  it('refuses more than MAX_ALIASES aliases', async () => {
    const aliases = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: __typename`).join(' ')} }`;
    expect((await t.gql(aliases(30))).status).toBe(200);
    expectRefused(await t.gql(aliases(31)), 'aliases');
  });

  it('refuses a query costing more than MAX_QUERY_COST, with first as a literal or a variable', async () => {
    // characters costs 1 + first * (edges 1 + node 1 + id 1 + name 1) = 1 + 4 * first.
    const literal = (first: number) => `{ characters(first: ${first}) { edges { node { id name } } } }`;
    expect((await t.gql(literal(1000), {}, token)).errors?.[0]?.extensions?.limit).toBeUndefined();
    expectRefused(await t.gql(literal(1250), {}, token), 'cost');
    expectRefused(await t.gql(`query($n: Int) { characters(first: $n) { edges { node { id name } } } }`, { n: 100_000 }, token), 'cost');
  });

  it('refuses a document over MAX_DOCUMENT_BYTES before parsing it', async () => {
    const padding = `# ${'x'.repeat(20_000)}\n`;
    expectRefused(await t.gql(`${padding}{ __typename }`), 'documentSize');
    // Not even parsed: a syntax error in an oversized document is reported as its size.
    expectRefused(await t.gql(`${padding}{ ((( `), 'documentSize');
    expect((await t.gql(`# ${'x'.repeat(19_000)}\n{ __typename }`)).status).toBe(200);
  });

  it('refuses batched requests (a JSON array body) with a clear 400', async () => {
    const res = await post(t, [{ query: '{ __typename }' }, { query: '{ __typename }' }]);
    expect(res.status).toBe(400);
    expect(res.body.errors[0].message).toMatch(/batching disabled/i);
    expect(res.body.errors[0].extensions.code).toBe('BAD_REQUEST');
  });

  it('refuses a deep subscription, a deep query, too many aliases and an oversized document over graphql-ws', async () => {
    const client = wsClient(t.gatewayUrl, token);
    try {
      const refused = (query: string) => firstAnswer(client, query);
      const subscription = await refused(`subscription { conversationEvents(conversationId: "c") { message { ${deepSelection(12)} } } }`);
      expect(Array.isArray(subscription)).toBe(true);
      expect(subscription[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', limit: 'depth' });
      const query = await refused(deepQuery(13));
      expect(query[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', limit: 'depth' });
      const aliases = await refused(`{ ${Array.from({ length: 31 }, (_, i) => `a${i}: __typename`).join(' ')} }`);
      expect(aliases[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', limit: 'aliases' });
      const oversized = await refused(`# ${'x'.repeat(20_000)}\n{ __typename }`);
      expect(oversized[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', limit: 'documentSize' });
    } finally {
      await client.dispose();
    }
  });

  describe('the nested-pages attack and oversized answers (issue 14, item 1)', () => {
    let conversationId: string;
    let characterId: string;
    let listeners: ReturnType<typeof watchListeners>;

    beforeAll(async () => {
      listeners = watchListeners(messagesBus(t));
      // A character with every text field at its longest, and a conversation with it.
      const long = (max: number) => 'x'.repeat(max);
      const input = {
        name: 'Verbose',
        description: long(LIMITS.personaFieldMax),
        personality: long(LIMITS.personaFieldMax),
        scenario: long(LIMITS.personaFieldMax),
        greeting: long(LIMITS.personaFieldMax),
        exampleDialogue: long(LIMITS.longPersonaFieldMax),
        systemPrompt: long(LIMITS.longPersonaFieldMax),
      };
      const created = await t.gql(`mutation($input: CharacterInput!) { createCharacter(input: $input) { id } }`, { input }, token);
      characterId = created.data.createCharacter.id;
      const started = await t.gql(`mutation($c: ID!) { startConversation(input: { characterId: $c }) { id } }`, { c: characterId }, token);
      conversationId = started.data.startConversation.id;
    });

    it('counts a page size left to a variable’s default at that default, over HTTP and graphql-ws', async () => {
      const query = `query($n: Int = 100) { ${nestedPagesQuery(conversationId, '(first: $n)')} }`;
      expectRefused(await t.gql(query, {}, token), 'cost');
      // The same query with a small page, given by the client, is within the limit.
      const small = await t.gql(query, { n: 2 }, token);
      expect(small.errors).toBeUndefined();
      expect(small.data.c0.messages.edges).toHaveLength(1);
      const client = wsClient(t.gatewayUrl, token);
      try {
        expect((await firstAnswer(client, query))[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', limit: 'cost' });
        const subscription = `subscription($id: ID!, $n: Int = 100) { conversationEvents(conversationId: $id) { message { conversation {
          messages(first: $n) { edges { node { conversation { messages(first: $n) { edges { node { id content } } } } } } } } } } }`;
        expect((await firstAnswer(client, subscription, { id: conversationId }))[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', limit: 'cost' });
      } finally {
        await client.dispose();
      }
    });

    it('counts a page without first or last at the server’s default page size, over HTTP and graphql-ws', async () => {
      // 5 × (1 + 20 × (4 + 20 × 4)) with the default page of 20; it was 5 × 14 when a missing first counted 1.
      const query = `{ ${nestedPagesQuery(conversationId, '', 5)} }`;
      expectRefused(await t.gql(query, {}, token), 'cost');
      expect((await t.gql(`{ ${nestedPagesQuery(conversationId, '', 2)} }`, {}, token)).errors).toBeUndefined();
      const client = wsClient(t.gatewayUrl, token);
      try {
        expect((await firstAnswer(client, query))[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', limit: 'cost' });
      } finally {
        await client.dispose();
      }
    });

    it('refuses an answer over MAX_RESPONSE_BYTES over HTTP, and sends one within it', async () => {
      const characters = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: character(id: "${characterId}") { ${CHARACTER_TEXT} }`).join(' ')} }`;
      const within = await t.gql(characters(5), {}, token);
      expect(within.status).toBe(200);
      expect(within.data.a4.systemPrompt).toHaveLength(LIMITS.longPersonaFieldMax);
      const over = await t.gql(characters(15), {}, token);
      expectRefused(over, 'responseSize');
      expect(over.status).toBe(400);
    });

    it('refuses a query answer and a subscription event over MAX_RESPONSE_BYTES over graphql-ws', async () => {
      const client = wsClient(t.gatewayUrl, token);
      try {
        const characters = `{ ${Array.from({ length: 15 }, (_, i) => `a${i}: character(id: "${characterId}") { ${CHARACTER_TEXT} }`).join(' ')} }`;
        const answer = await firstAnswer(client, characters);
        expect(answer.data ?? null).toBeNull();
        expect(answer.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', limit: 'responseSize' });
        // Each event carries its conversation's character 15 times over: about 1.2 MB.
        const aliases = Array.from({ length: 15 }, (_, i) => `c${i}: conversation { character { ${CHARACTER_TEXT} } }`).join(' ');
        const event = firstAnswer(client, `subscription($id: ID!) { conversationEvents(conversationId: $id) { kind message { id ${aliases} } } }`, { id: conversationId });
        // graphql-ws does not acknowledge a subscribe: send once the messages subgraph listens for the conversation.
        await waitUntil(() => listeners.count(conversationId) === 1, 10_000, 'the subscription upstream');
        await sendOk(t, token, conversationId, 'Tell me about yourself.');
        const refused = await event;
        expect(refused.data ?? null).toBeNull();
        expect(refused.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', limit: 'responseSize' });
      } finally {
        await client.dispose();
      }
    });
  });

  it('answers CORS preflights with access-control-allow-origin for listed origins only', async () => {
    const preflight = (origin: string) =>
      fetch(t.gatewayUrl, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, authorization' },
      });
    const listed = await preflight(LISTED_ORIGIN);
    expect(listed.status).toBe(204);
    expect(listed.headers.get('access-control-allow-origin')).toBe(LISTED_ORIGIN);
    expect(listed.headers.get('access-control-allow-headers')).toMatch(/authorization/);
    const unlisted = await preflight('https://evil.example.com');
    expect(unlisted.status).toBeLessThan(500);
    expect(unlisted.headers.get('access-control-allow-origin')).toBeNull();
    const actual = await post(t, { query: '{ __typename }' }, { origin: LISTED_ORIGIN });
    expect(actual.headers.get('access-control-allow-origin')).toBe(LISTED_ORIGIN);
    expect((await post(t, { query: '{ __typename }' }, { origin: 'https://evil.example.com' })).headers.get('access-control-allow-origin')).toBeNull();
  });

  it('keeps CSRF prevention on: a simple GET query is refused, one with a preflight header runs', async () => {
    const url = `${t.gatewayUrl}?query=${encodeURIComponent('{ __typename }')}`;
    const simple = await fetch(url);
    expect(simple.status).toBe(400);
    expect(await simple.text()).toMatch(/CSRF/);
    const withHeader = await fetch(url, { headers: { 'apollo-require-preflight': 'true' } });
    expect(withHeader.status).toBe(200);
    expect(((await withHeader.json()) as any).data.__typename).toBe('Query');
  });
});
