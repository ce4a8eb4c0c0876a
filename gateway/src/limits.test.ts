/** The limit rules and their configuration (limits.ts); tried through the real gateway in test/security/limits.test.ts. */
import { describe, expect, it } from '@jest/globals';
import { buildSchema, getIntrospectionQuery, parse, validate } from 'graphql';
import { ConfigError, loadConfig } from '@chat/shared/config';
import { DEFAULT_PAGE_SIZE } from '@chat/shared/pagination';
import { DEFAULT_QUERY_LIMITS, maxCostRule, maxDepthRule, queryLimitRules, responseSizeError } from './limits';

describe('limit configuration and rules', () => {
  it('reads the limits and CORS origins from the environment, validating them', () => {
    const defaults = loadConfig({});
    expect(defaults.limits).toEqual(DEFAULT_QUERY_LIMITS);
    expect(defaults.corsOrigins).toEqual([]);
    const set = loadConfig({ MAX_QUERY_DEPTH: '5', MAX_ALIASES: '0', MAX_QUERY_COST: '100', MAX_DOCUMENT_BYTES: '1000', MAX_RESPONSE_BYTES: '4096', CORS_ORIGINS: 'https://a.example, http://localhost:5173' });
    expect(set.limits).toEqual({ maxDepth: 5, maxAliases: 0, maxCost: 100, maxDocumentBytes: 1000, maxResponseBytes: 4096 });
    expect(set.corsOrigins).toEqual(['https://a.example', 'http://localhost:5173']);
    for (const env of [{ MAX_QUERY_DEPTH: '0' }, { MAX_QUERY_COST: 'many' }, { MAX_DOCUMENT_BYTES: '-1' }, { MAX_ALIASES: '1.5' }, { MAX_RESPONSE_BYTES: '1023' }, { MAX_RESPONSE_BYTES: '8MB' }, { CORS_ORIGINS: '*' }, { CORS_ORIGINS: 'https://a.example/path' }]) {
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
  // A conversation's messages page, a connection-typed field without page arguments, a list with a schema default.
  const paged = buildSchema(`
    type Query { conversation(id: ID!): Conversation feed: MessageConnection tags(first: Int = 5): [Tag!]! }
    type Conversation { messages(first: Int, last: Int): MessageConnection! }
    type MessageConnection { edges: [MessageEdge!]! }
    type MessageEdge { node: Message! }
    type Message { id: ID! conversation: Conversation }
    type Tag { name: String! }
  `);
  // conversation 1 + messages (1 + size * (edges 1 + node 1 + id 1)).
  const pageCost = (size: number) => 2 + 3 * size;
  const cost = (query: string, variables: Record<string, unknown> = {}) => {
    const [error] = validate(paged, parse(query), [maxCostRule(0, variables)]);
    return Number(/costs (\d+)/.exec(error?.message ?? '')?.[1]);
  };
  const MESSAGES = 'conversation(id: "c") { messages(first: $n) { edges { node { id } } } }';

  it('counts a page size given by a variable at the value execution will use, its default included', () => {
    expect(cost(`query($n: Int = 100) { ${MESSAGES} }`)).toBe(pageCost(100));
    expect(cost(`query($n: Int = 100) { ${MESSAGES} }`, { n: 3 })).toBe(pageCost(3));
    expect(cost(`query($n: Int) { ${MESSAGES} }`, { n: 7 })).toBe(pageCost(7));
    expect(cost(`{ conversation(id: "c") { messages(first: 9, last: 4) { edges { node { id } } } } }`)).toBe(pageCost(9));
  });

  it('counts a paged field without a page size at the server’s default page size', () => {
    expect(DEFAULT_PAGE_SIZE).toBe(20);
    expect(cost('{ conversation(id: "c") { messages { edges { node { id } } } } }')).toBe(pageCost(DEFAULT_PAGE_SIZE));
    expect(cost(`query($n: Int) { ${MESSAGES} }`)).toBe(pageCost(DEFAULT_PAGE_SIZE));
    // Variables that do not coerce are refused before execution; meanwhile they count as absent.
    expect(cost(`query($n: Int) { ${MESSAGES} }`, { n: 'many' })).toBe(pageCost(DEFAULT_PAGE_SIZE));
    expect(cost('{ feed { edges { node { id } } } }')).toBe(1 + 3 * DEFAULT_PAGE_SIZE);
    expect(cost('{ tags { name } }')).toBe(1 + 5);
    expect(cost('{ tags(first: 2) { name } }')).toBe(1 + 2);
  });

  it('multiplies nested pages, through fragments, so the reported attack is far over the default limit', () => {
    const nested = `query($n: Int = 100) { ${Array.from({ length: 30 }, (_, i) => `c${i}: conversation(id: "c") { ...Page }`).join(' ')} }
      fragment Page on Conversation { messages(first: $n) { edges { node { conversation { messages(first: $n) { edges { node { id } } } } } } } }`;
    expect(cost(nested)).toBeGreaterThan(DEFAULT_QUERY_LIMITS.maxCost * 100);
    expect(validate(paged, parse(nested), queryLimitRules(DEFAULT_QUERY_LIMITS))[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', limit: 'cost' });
  });

  it('refuses an answer over the response-size limit, and not one at it', () => {
    const answer = { data: { text: 'x'.repeat(100) } };
    const bytes = Buffer.byteLength(JSON.stringify(answer));
    expect(responseSizeError(answer, bytes)).toBeUndefined();
    const refusal = responseSizeError(answer, bytes - 1);
    expect(refusal?.extensions).toEqual({ code: 'BAD_USER_INPUT', limit: 'responseSize' });
    expect(refusal?.message).toMatch(/at most/);
  });
});
