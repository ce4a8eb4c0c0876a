/**
 * The gateway's subgraph data source (datasource.ts), against real HTTP servers on 127.0.0.1:
 * duplicate entity representations are sent once and the answer expanded back in order (errors
 * included); identical queries in flight at the same time share one round trip only when their
 * headers (authorization, client address) are the same; mutations and completed requests are
 * never shared; failures read as they did with @apollo/gateway's default fetcher; connections
 * are kept alive.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { dedupeRepresentations, expandEntitiesResponse, isQueryOperation, representationKey, SubgraphDataSource } from './datasource';
import { SHARING_IGNORED_HEADERS } from './fetcher';

/** How long the recording subgraph holds each answer: long enough for concurrent requests to overlap. */
const ANSWER_DELAY_MS = 150;
const ENTITIES_QUERY = 'query Q__products__1($representations:[_Any!]!){_entities(representations:$representations){...on Product{name}}}';
const PLAIN_QUERY = 'query Q__products__0{topProducts{upc}}';
const MUTATION = 'mutation M__products__0{addProduct{upc}}';

interface Recorded {
  body: { query: string; variables?: { representations?: Array<Record<string, unknown>> } };
  headers: IncomingHttpHeaders;
}

/**
 * A subgraph that records what it receives and answers after ANSWER_DELAY_MS: `_entities` with
 * `name: "<upc>"` per representation (an error at `_entities.<i>.name` for a upc of "bad"),
 * anything else with `{ count }`, the number of requests received up to this one.
 */
async function startRecordingSubgraph(): Promise<{ url: string; requests: Recorded[]; connections: () => number; close(): Promise<void> }> {
  const requests: Recorded[] = [];
  let connections = 0;
  const server: Server = createServer(async (req, res) => {
    let text = '';
    for await (const chunk of req) text += chunk;
    const body = JSON.parse(text) as Recorded['body'];
    const count = requests.push({ body, headers: req.headers });
    await new Promise((resolve) => setTimeout(resolve, ANSWER_DELAY_MS));
    const representations = body.variables?.representations;
    let answer: unknown;
    if (representations) {
      const errors = representations.flatMap((r, i) => (r.upc === 'bad' ? [{ message: `no product ${String(r.upc)}`, path: ['_entities', i, 'name'] }] : []));
      answer = {
        data: { _entities: representations.map((r) => (r.upc === 'bad' ? { name: null } : { name: `name-${String(r.upc)}` })) },
        ...(errors.length ? { errors } : {}),
      };
    } else {
      answer = { data: { count } };
    }
    const json = JSON.stringify(answer);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
    res.end(json);
  });
  server.on('connection', () => (connections += 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
    requests,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

interface TestContext {
  authorization?: string;
  clientAddress?: string;
  traceparent?: string;
}

/** The gateway's forwarding rules (authenticated-datasource.ts): authorization and x-forwarded-for from the context, plus trace context. */
function dataSource(url: string): SubgraphDataSource<TestContext> {
  return new SubgraphDataSource<TestContext>({
    url,
    willSendRequest({ request, context }) {
      if (context.authorization) request.http?.headers.set('authorization', context.authorization);
      if (context.clientAddress) request.http?.headers.set('x-forwarded-for', context.clientAddress);
      if (context.traceparent) request.http?.headers.set('traceparent', context.traceparent);
    },
  });
}

/** What the gateway's executor hands a data source for one fetch of a client's operation. */
function fetchOptions(query: string, context: TestContext, variables?: Record<string, unknown>): GraphQLDataSourceProcessOptions<TestContext> {
  return {
    kind: 'incoming operation',
    request: { query, variables },
    incomingRequestContext: { overallCachePolicy: undefined },
    context,
  } as unknown as GraphQLDataSourceProcessOptions<TestContext>;
}

const product = (upc: string) => ({ __typename: 'Product', upc });

describe('representations', () => {
  it('are deduplicated by value, remembering where each one went', () => {
    expect(dedupeRepresentations([product('1'), product('2'), product('1'), product('3'), product('2')])).toEqual({
      unique: [product('1'), product('2'), product('3')],
      positions: [0, 1, 0, 2, 1],
    });
  });

  it('have keys equal exactly when their JSON is equal', () => {
    const representations: unknown[] = [
      product('1'),
      { __typename: 'Product', upc: '1:s1:x' },
      { __typename: 'Product', upc: '1', weight: 2 },
      { __typename: 'Product', upc: '1', weight: '2' },
      { __typename: 'Product', upc: '1n2;' },
      { __typename: 'Product', upc: '1', inStock: true },
      { __typename: 'Product', upc: '1', inStock: 'true' },
      { __typename: 'Product', upc: '1', nested: { id: '1' } },
      { __typename: 'Product', upc: '1', nested: null },
      { __typename: 'Product', upcs: ['1'] },
      { upc: '1', __typename: 'Product' },
      {},
      'Product',
      null,
    ];
    const keys = representations.map(representationKey);
    const json = representations.map((r) => JSON.stringify(r));
    for (let a = 0; a < keys.length; a += 1) {
      for (let b = 0; b < keys.length; b += 1) expect(keys[a] === keys[b]).toBe(json[a] === json[b]);
    }
    expect(representationKey({ ...product('1') })).toBe(representationKey(product('1')));
  });

  it('expand an answer back in the original order, copying duplicates and repeating their errors', () => {
    const response = {
      data: { _entities: [{ name: 'a' }, null, { name: 'c', nested: { x: 1 } }] },
      errors: [
        { message: 'other', path: ['somewhere'] },
        { message: 'no b', path: ['_entities', 1, 'name'] },
      ],
    };
    const expanded = expandEntitiesResponse(response, [0, 1, 2, 1, 2, 0], 3);
    const entities = expanded.data?._entities as Array<Record<string, unknown> | null>;
    expect(entities).toEqual([{ name: 'a' }, null, { name: 'c', nested: { x: 1 } }, null, { name: 'c', nested: { x: 1 } }, { name: 'a' }]);
    expect(entities[4]).not.toBe(entities[2]);
    expect(entities[4]?.nested).not.toBe(entities[2]?.nested);
    expect(expanded.errors).toEqual([
      { message: 'other', path: ['somewhere'] },
      { message: 'no b', path: ['_entities', 1, 'name'] },
      { message: 'no b', path: ['_entities', 3, 'name'] },
    ]);
  });

  it('leave an answer of the wrong length for the gateway to refuse', () => {
    const response = { data: { _entities: [{ name: 'a' }] } };
    expect(expandEntitiesResponse(response, [0, 1, 0], 2)).toEqual(response);
  });
});

describe('operation kinds', () => {
  it('recognises single queries only', () => {
    expect(isQueryOperation(PLAIN_QUERY)).toBe(true);
    expect(isQueryOperation('{ topProducts { upc } }')).toBe(true);
    expect(isQueryOperation(MUTATION)).toBe(false);
    expect(isQueryOperation('subscription S { x }')).toBe(false);
    expect(isQueryOperation('query A { a } mutation B { b }')).toBe(false);
    expect(isQueryOperation('query {')).toBe(false);
    expect(isQueryOperation(undefined)).toBe(false);
  });
});

describe('SubgraphDataSource over HTTP', () => {
  let subgraph: Awaited<ReturnType<typeof startRecordingSubgraph>>;
  beforeAll(async () => {
    subgraph = await startRecordingSubgraph();
  });
  afterEach(() => {
    subgraph.requests.length = 0;
  });
  afterAll(() => subgraph?.close());

  it('sends each distinct representation once and answers every original one, in order', async () => {
    const source = dataSource(subgraph.url);
    const representations = [product('1'), product('2'), product('1'), product('bad'), product('2'), product('bad')];
    const response = await source.process(fetchOptions(ENTITIES_QUERY, {}, { representations }));
    expect(subgraph.requests).toHaveLength(1);
    expect(subgraph.requests[0].body.variables?.representations).toEqual([product('1'), product('2'), product('bad')]);
    const entities = response.data?._entities as unknown[];
    expect(entities).toEqual([{ name: 'name-1' }, { name: 'name-2' }, { name: 'name-1' }, { name: null }, { name: 'name-2' }, { name: null }]);
    expect(entities[2]).not.toBe(entities[0]);
    expect(response.errors?.map((e) => e.path)).toEqual([
      ['_entities', 3, 'name'],
      ['_entities', 5, 'name'],
    ]);
  });

  it('shares one round trip among identical concurrent queries, each getting its own objects', async () => {
    const source = dataSource(subgraph.url);
    const context = { authorization: 'Bearer same', clientAddress: '10.0.0.1' };
    const responses = await Promise.all([1, 2, 3].map(() => source.process(fetchOptions(PLAIN_QUERY, context))));
    expect(subgraph.requests).toHaveLength(1);
    expect(subgraph.requests[0].headers.authorization).toBe('Bearer same');
    expect(subgraph.requests[0].headers['x-forwarded-for']).toBe('10.0.0.1');
    expect(responses.map((r) => r.data)).toEqual([{ count: 1 }, { count: 1 }, { count: 1 }]);
    expect(responses[1].data).not.toBe(responses[0].data);
  });

  it('shares despite different trace context, which is not part of the request’s identity', async () => {
    expect(SHARING_IGNORED_HEADERS).toEqual(['traceparent', 'tracestate']);
    const source = dataSource(subgraph.url);
    const traceparent = (n: number) => `00-${String(n).padStart(32, '0')}-${String(n).padStart(16, '0')}-01`;
    await Promise.all([1, 2].map((n) => source.process(fetchOptions(PLAIN_QUERY, { authorization: 'Bearer same', traceparent: traceparent(n) }))));
    expect(subgraph.requests).toHaveLength(1);
  });

  it('never shares between different authorizations or client addresses', async () => {
    const source = dataSource(subgraph.url);
    const contexts: TestContext[] = [
      { authorization: 'Bearer alice', clientAddress: '10.0.0.1' },
      { authorization: 'Bearer bob', clientAddress: '10.0.0.1' },
      { clientAddress: '10.0.0.1' },
      { authorization: 'Bearer alice', clientAddress: '10.0.0.2' },
    ];
    await Promise.all(contexts.map((context) => source.process(fetchOptions(PLAIN_QUERY, context))));
    expect(subgraph.requests).toHaveLength(4);
    expect(subgraph.requests.map((r) => [r.headers.authorization, r.headers['x-forwarded-for']]).sort()).toEqual(
      contexts.map((c) => [c.authorization, c.clientAddress]).sort(),
    );
  });

  it('never shares mutations', async () => {
    const source = dataSource(subgraph.url);
    const responses = await Promise.all([1, 2].map(() => source.process(fetchOptions(MUTATION, { authorization: 'Bearer same' }))));
    expect(subgraph.requests).toHaveLength(2);
    expect(responses.map((r) => r.data?.count).sort()).toEqual([1, 2]);
  });

  it('never reuses an answer once its request completed', async () => {
    const source = dataSource(subgraph.url);
    await source.process(fetchOptions(PLAIN_QUERY, {}));
    const second = await source.process(fetchOptions(PLAIN_QUERY, {}));
    expect(subgraph.requests).toHaveLength(2);
    expect(second.data).toEqual({ count: 2 });
  });

  it('keeps connections alive between requests', async () => {
    const source = dataSource(subgraph.url);
    const before = subgraph.connections();
    for (let i = 0; i < 3; i += 1) await source.process(fetchOptions(MUTATION, {}));
    expect(subgraph.connections() - before).toBe(1);
  });
});

describe('failures', () => {
  it('read as they did with the default fetcher, and are not shared objects', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/graphql`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const stock = new RemoteGraphQLDataSource<TestContext>({ url });
    const expected = await stock.process(fetchOptions(PLAIN_QUERY, {})).catch((error: Error) => error);
    const source = dataSource(url);
    const [first, second] = await Promise.all([1, 2].map(() => source.process(fetchOptions(PLAIN_QUERY, {})).catch((error: Error) => error)));
    expect(expected).toBeInstanceOf(Error);
    expect((first as Error).message).toBe((expected as Error).message);
    expect((second as Error).message).toBe((expected as Error).message);
    expect(first).not.toBe(second);
  });

  it('turn a non-2xx answer into the same GraphQL error as before', async () => {
    const failing = createServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ message: 'down' }] }));
    });
    await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(failing.address() as AddressInfo).port}/graphql`;
    try {
      const stock = await new RemoteGraphQLDataSource<TestContext>({ url }).process(fetchOptions(PLAIN_QUERY, {})).catch((error: Error) => error);
      const ours = await dataSource(url).process(fetchOptions(PLAIN_QUERY, {})).catch((error: Error) => error);
      expect(ours).toBeInstanceOf(Error);
      expect((ours as Error).message).toBe((stock as Error).message);
      const extensions = (e: unknown) => (e as { extensions: { response: { status: number; body: unknown } } }).extensions.response;
      expect(extensions(ours).status).toBe(503);
      expect(extensions(ours).body).toEqual(extensions(stock).body);
    } finally {
      failing.closeAllConnections();
      await new Promise<void>((resolve) => failing.close(() => resolve()));
    }
  });
});
