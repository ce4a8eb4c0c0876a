/**
 * The gateway's GraphQL limits (gateway/src/limits.ts), CORS and CSRF prevention, tried through
 * the real gateway: over HTTP every limit is refused with BAD_USER_INPUT and a 4xx before
 * execution, over graphql-ws the same rules refuse the operation.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { buildSchema, getIntrospectionQuery, parse, validate } from 'graphql';
import { ConfigError, loadConfig } from '@chat/shared/config';
import { DEFAULT_QUERY_LIMITS, maxCostRule, maxDepthRule, queryLimitRules } from '../../gateway/src/limits';
import { startTestSystem, type TestSystem } from '../support/system';
import { wsClient } from '../support/ws';

const START_TIMEOUT_MS = 120_000;
const LISTED_ORIGIN = 'https://app.example.com';

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

describe('gateway limits, CORS and CSRF', () => {
  let t: TestSystem;
  let token: string;

  beforeAll(async () => {
    t = await startTestSystem('pglite', { CORS_ORIGINS: `${LISTED_ORIGIN}, https://other.example.com` });
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
      const refused = (query: string) =>
        new Promise<any>((resolve) => {
          client.subscribe({ query }, { next: (value) => resolve(value), error: (error) => resolve(error), complete: () => resolve('completed') });
        });
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

describe('limit configuration and rules', () => {
  it('reads the limits and CORS origins from the environment, validating them', () => {
    const defaults = loadConfig({});
    expect(defaults.limits).toEqual(DEFAULT_QUERY_LIMITS);
    expect(defaults.corsOrigins).toEqual([]);
    const set = loadConfig({ MAX_QUERY_DEPTH: '5', MAX_ALIASES: '0', MAX_QUERY_COST: '100', MAX_DOCUMENT_BYTES: '1000', CORS_ORIGINS: 'https://a.example, http://localhost:5173' });
    expect(set.limits).toEqual({ maxDepth: 5, maxAliases: 0, maxCost: 100, maxDocumentBytes: 1000 });
    expect(set.corsOrigins).toEqual(['https://a.example', 'http://localhost:5173']);
    for (const env of [{ MAX_QUERY_DEPTH: '0' }, { MAX_QUERY_COST: 'many' }, { MAX_DOCUMENT_BYTES: '-1' }, { MAX_ALIASES: '1.5' }, { CORS_ORIGINS: '*' }, { CORS_ORIGINS: 'https://a.example/path' }]) {
      expect(() => loadConfig(env)).toThrow(ConfigError);
    }
  });

  const schema = buildSchema('type Query { node(first: Int): Node } type Node { child(first: Int): Node id: ID }');

  it('computes each fragment once, so a fragment fan-out is cheap to check', () => {
    // Each level spreads the next twice: 2^40 fields once expanded.
    const levels = Array.from({ length: 40 }, (_, i) => `fragment F${i} on Node { a: child { ...F${i + 1} } b: child { ...F${i + 1} } }`);
    const document = parse(`{ node { ...F0 } } ${levels.join(' ')} fragment F40 on Node { id }`);
    const started = Date.now();
    const errors = validate(schema, document, [maxCostRule(5000)]);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(errors[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', limit: 'cost' });
  });

  it('multiplies by first/last and leaves introspection out of the depth', () => {
    expect(validate(schema, parse('{ node(first: 10) { child(first: 10) { id } } }'), [maxCostRule(111)])).toEqual([]);
    expect(validate(schema, parse('{ node(first: 10) { child(first: 10) { id } } }'), [maxCostRule(110)])).toHaveLength(1);
    expect(validate(schema, parse(getIntrospectionQuery()), queryLimitRules(DEFAULT_QUERY_LIMITS))).toEqual([]);
    expect(validate(schema, parse('{ node { child { child { id } } } }'), [maxDepthRule(3)])).toHaveLength(1);
  });
});
