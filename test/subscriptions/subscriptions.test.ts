/**
 * Federated subscriptions through a stock @apollo/gateway, with real parts only:
 * two @apollo/subgraph subgraphs on HTTP (+ graphql-ws for `events`), a composed
 * supergraph, ApolloGateway + ApolloServer on an HTTP server, and the
 * subscription server from gateway/src/subscriptions attached to that server.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse } from 'graphql';
import WebSocket, { WebSocketServer } from 'ws';
import { createClient, type Client, type FormattedExecutionResult } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { ApolloServer, HeaderMap } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { composeServices } from '@apollo/composition';
import { ApolloGateway } from '@apollo/gateway';
import { attachSubscriptionServer, CloseCode, SubscriptionErrorCode, type SubscriptionServer } from '../../gateway/src/subscriptions';

const GOOD_TOKEN = 'Bearer good-token';
const BAD_TOKEN = 'Bearer bad-token';

const EVENTS_SDL = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])

  type Query {
    lastTick: Tick
  }

  type Subscription {
    ticks(count: Int!, authorId: ID = "u1", intervalMs: Int = 10): Tick!
  }

  type Tick {
    n: Int!
    author: User
  }

  type User @key(fields: "id", resolvable: false) {
    id: ID!
  }
`;

const PEOPLE_SDL = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])

  type Query {
    user(id: ID!): User
  }

  type User @key(fields: "id") {
    id: ID!
    name: String!
  }
`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it holds or `timeoutMs` passes. */
async function waitFor(check: () => boolean, timeoutMs = 3_000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error('waitFor timed out');
    await sleep(10);
  }
}

/** Reads a request body as JSON (or undefined). */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : undefined;
}

/** Serves an ApolloServer on node:http via executeHTTPGraphQLRequest; `onBody` sees each request first. */
function apolloHandler(apollo: ApolloServer, onBody?: (body: unknown, req: IncomingMessage) => void) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const body = await readJson(req);
      onBody?.(body, req);
      const headers = new HeaderMap();
      for (const [key, value] of Object.entries(req.headers)) {
        if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
      }
      const url = new URL(req.url ?? '/', 'http://localhost');
      const response = await apollo.executeHTTPGraphQLRequest({
        httpGraphQLRequest: { method: req.method ?? 'POST', headers, search: url.search, body },
        context: async () => ({}),
      });
      for (const [key, value] of response.headers) res.setHeader(key, value);
      res.statusCode = response.status ?? 200;
      if (response.body.kind === 'complete') res.end(response.body.string);
      else {
        for await (const chunk of response.body.asyncIterator) res.write(chunk);
        res.end();
      }
    } catch (error) {
      res.statusCode = 500;
      res.end(String(error));
    }
  };
}

/** Listens on 127.0.0.1:0 and returns the base URL. */
async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

/** Closes an HTTP server, dropping keep-alive connections. */
async function closeHttp(server: Server): Promise<void> {
  if (!server.listening) return;
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** The `events` subgraph: HTTP + graphql-ws on /graphql, with instrumentation. */
async function startEventsSubgraph() {
  const stats = {
    connectionParams: [] as Array<Record<string, unknown> | undefined>,
    openSockets: 0,
    generatorsStarted: 0,
    generatorsFinished: 0,
  };
  const schema = buildSubgraphSchema({
    typeDefs: parse(EVENTS_SDL),
    resolvers: {
      Query: { lastTick: () => ({ n: 0, author: null }) },
      Subscription: {
        ticks: {
          subscribe: async function* (_: unknown, args: { count: number; authorId?: string | null; intervalMs: number }) {
            stats.generatorsStarted++;
            try {
              for (let n = 1; n <= args.count; n++) {
                await sleep(args.intervalMs);
                yield { ticks: { n, author: args.authorId ? { id: args.authorId } : null } };
              }
            } finally {
              stats.generatorsFinished++;
            }
          },
        },
      },
    } as never,
  });
  const apollo = new ApolloServer({ schema, plugins: [ApolloServerPluginInlineTraceDisabled()] });
  await apollo.start();
  const http = createServer(apolloHandler(apollo));
  const wss = new WebSocketServer({ server: http, path: '/graphql' });
  wss.on('connection', (socket) => {
    stats.openSockets++;
    socket.once('close', () => stats.openSockets--);
  });
  const graphqlWs = useServer(
    {
      schema,
      onConnect: (ctx) => {
        stats.connectionParams.push(ctx.connectionParams);
      },
    },
    wss,
  );
  const url = `${await listen(http)}/graphql`;
  let stopped = false;
  return {
    url,
    stats,
    /** Abrupt stop: drops every socket (as a crash would) and closes the HTTP server. */
    async crash() {
      if (stopped) return;
      stopped = true;
      for (const client of wss.clients) client.terminate();
      await graphqlWs.dispose();
      await closeHttp(http);
      await apollo.stop();
    },
  };
}

/** The `people` subgraph: `_entities` over HTTP, counting entity requests. */
async function startPeopleSubgraph() {
  const stats = { entityRequests: 0, entityAuthorization: [] as Array<string | undefined>, entityForwardedFor: [] as Array<string | undefined> };
  const schema = buildSubgraphSchema({
    typeDefs: parse(PEOPLE_SDL),
    resolvers: {
      Query: { user: (_: unknown, { id }: { id: string }) => ({ id, name: `Name of ${id}` }) },
      User: { __resolveReference: (ref: { id: string }) => ({ id: ref.id, name: `Name of ${ref.id}` }) },
    } as never,
  });
  const apollo = new ApolloServer({ schema, plugins: [ApolloServerPluginInlineTraceDisabled()] });
  await apollo.start();
  const http = createServer(
    apolloHandler(apollo, (body, req) => {
      const query = (body as { query?: string } | undefined)?.query ?? '';
      if (query.includes('_entities')) {
        stats.entityRequests++;
        stats.entityAuthorization.push(req.headers.authorization);
        stats.entityForwardedFor.push(req.headers['x-forwarded-for'] as string | undefined);
      }
    }),
  );
  const url = `${await listen(http)}/graphql`;
  return {
    url,
    stats,
    async stop() {
      await closeHttp(http);
      await apollo.stop();
    },
  };
}

type Result = FormattedExecutionResult<Record<string, unknown>, unknown>;

/** Subscribes and collects everything until completion or error. */
function collect(client: Client, query: string, variables: Record<string, unknown> = {}) {
  const events: Result[] = [];
  let unsubscribe = () => {};
  const done = new Promise<{ events: Result[]; error?: unknown }>((resolve) => {
    unsubscribe = client.subscribe(
      { query, variables },
      {
        next: (value) => events.push(value),
        error: (error) => resolve({ events, error }),
        complete: () => resolve({ events }),
      },
    );
  });
  return { events, done, unsubscribe: () => unsubscribe() };
}

/** Opens a raw graphql-transport-ws socket and resolves with its close code. */
function rawSocket(url: string, messages: object[], sendAfterAckOnly = false): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, 'graphql-transport-ws');
    socket.on('error', reject);
    socket.on('close', (code) => resolve(code));
    socket.on('open', () => {
      const [first, ...rest] = messages;
      if (first) socket.send(JSON.stringify(first));
      if (!sendAfterAckOnly) for (const message of rest) socket.send(JSON.stringify(message));
    });
    socket.on('message', (data) => {
      if (sendAfterAckOnly && JSON.parse(String(data)).type === 'connection_ack') {
        for (const message of messages.slice(1)) socket.send(JSON.stringify(message));
      }
    });
  });
}

describe('federated subscriptions through @apollo/gateway', () => {
  let events: Awaited<ReturnType<typeof startEventsSubgraph>>;
  let people: Awaited<ReturnType<typeof startPeopleSubgraph>>;
  let gateway: ApolloGateway;
  let apollo: ApolloServer;
  let gatewayHttp: Server;
  let gatewayUrl: string;
  let wsUrl: string;
  let subscriptions: SubscriptionServer;
  let subscriptionsOnly: SubscriptionServer;
  const clients: Client[] = [];

  const client = (
    authorization = GOOD_TOKEN,
    path = '/graphql',
    onClosed?: (event: unknown) => void,
    lazy = true,
  ): Client => {
    const c = createClient({
      url: `${wsUrl}${path}`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization },
      retryAttempts: 0,
      lazy,
      on: onClosed ? { closed: onClosed } : undefined,
    });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    [events, people] = await Promise.all([startEventsSubgraph(), startPeopleSubgraph()]);
    const composed = composeServices([
      { name: 'events', url: events.url, typeDefs: parse(EVENTS_SDL) },
      { name: 'people', url: people.url, typeDefs: parse(PEOPLE_SDL) },
    ]);
    if (composed.errors) throw new Error(composed.errors.map((e) => e.message).join('\n'));

    gateway = new ApolloGateway({ supergraphSdl: composed.supergraphSdl });
    let coreSupergraphSdl: string | undefined;
    gateway.onSchemaLoadOrUpdate((schemaContext) => {
      coreSupergraphSdl = schemaContext.coreSupergraphSdl;
    });
    apollo = new ApolloServer({ gateway: gateway as never });
    await apollo.start();
    gatewayHttp = createServer(apolloHandler(apollo));
    gatewayUrl = await listen(gatewayHttp);
    wsUrl = gatewayUrl.replace('http:', 'ws:');

    const authenticate = async (params: Readonly<Record<string, unknown>> | undefined) => {
      if (params?.authorization !== GOOD_TOKEN) throw new Error('invalid token');
      return { authorization: GOOD_TOKEN, viewer: { id: 'u1' } };
    };
    subscriptions = attachSubscriptionServer({
      httpServer: gatewayHttp,
      path: '/graphql',
      getSupergraphSdl: () => coreSupergraphSdl,
      serviceUrl: (name) => (name === 'events' ? events.url : people.url),
      authenticate,
      executeOperation: async ({ query, variables, operationName }) => {
        const response = await apollo.executeOperation({ query, variables, operationName });
        if (response.body.kind !== 'single') throw new Error('incremental delivery is not supported');
        return response.body.singleResult;
      },
    });
    // A second server on the same HTTP server, without an executeOperation hook.
    subscriptionsOnly = attachSubscriptionServer({
      httpServer: gatewayHttp,
      path: '/subscriptions-only',
      supergraphSdl: composed.supergraphSdl,
      authenticate,
      connectionInitWaitTimeoutMs: 200,
    });
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.dispose()));
    await subscriptions?.close();
    await subscriptionsOnly?.close();
    await closeHttp(gatewayHttp);
    await apollo?.stop();
    await events?.crash();
    await people?.stop();
  });

  it('still serves queries over HTTP', async () => {
    const response = await fetch(`${gatewayUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ user(id: "u7") { id name } }' }),
    });
    expect(await response.json()).toEqual({ data: { user: { id: 'u7', name: 'Name of u7' } } });
  });

  it('streams 5 ticks with author.name from the people subgraph, fetching the author once', async () => {
    const before = people.stats.entityRequests;
    const { done } = collect(client(), 'subscription { ticks(count: 5) { n author { id name } } }');
    const result = await done;
    expect(result.error).toBeUndefined();
    expect(result.events).toEqual(
      [1, 2, 3, 4, 5].map((n) => ({ data: { ticks: { n, author: { id: 'u1', name: 'Name of u1' } } } })),
    );
    expect(people.stats.entityRequests - before).toBe(1);
    expect(people.stats.entityAuthorization.at(-1)).toBe(GOOD_TOKEN);
  });

  it('sends events’ entity fetches through the gateway’s data source: authorization and the socket’s client address', async () => {
    const before = people.stats.entityRequests;
    const { done } = collect(client(), 'subscription { ticks(count: 1, authorId: "u2") { author { name } } }');
    expect((await done).events).toEqual([{ data: { ticks: { author: { name: 'Name of u2' } } } }]);
    expect(people.stats.entityRequests - before).toBe(1);
    expect(people.stats.entityAuthorization.at(-1)).toBe(GOOD_TOKEN);
    expect(people.stats.entityForwardedFor.at(-1)).toBe('127.0.0.1');
  });

  it('makes no entity fetch for events whose author is null', async () => {
    const before = people.stats.entityRequests;
    const { done } = collect(client(), 'subscription($a: ID) { ticks(count: 3, authorId: $a) { n author { name } } }', { a: null });
    const result = await done;
    expect(result.error).toBeUndefined();
    expect(result.events.map((e) => e.data)).toEqual([1, 2, 3].map((n) => ({ ticks: { n, author: null } })));
    expect(people.stats.entityRequests - before).toBe(0);
  });

  it('forwards the client authorization in the upstream connection_init and shares one upstream socket per connection', async () => {
    const before = events.stats.connectionParams.length;
    const c = client();
    const [a, b] = [
      collect(c, 'subscription { ticks(count: 3) { n } }'),
      collect(c, 'subscription { ticks(count: 2, intervalMs: 20) { n } }'),
    ];
    const [ra, rb] = await Promise.all([a.done, b.done]);
    expect(ra.events).toHaveLength(3);
    expect(rb.events).toHaveLength(2);
    const inits = events.stats.connectionParams.slice(before);
    expect(inits).toEqual([{ authorization: GOOD_TOKEN }]);
  });

  it('refuses a bad token with close code 4403', async () => {
    let closeCode: number | undefined;
    const c = client(BAD_TOKEN, '/graphql', (event) => {
      closeCode = (event as { code: number }).code;
    });
    const result = await collect(c, 'subscription { ticks(count: 1) { n } }').done;
    expect(closeCode).toBe(CloseCode.Forbidden);
    expect((result.error as { code?: number }).code).toBe(4403);
  });

  it('closes the upstream subscription when the client unsubscribes (connection stays open)', async () => {
    const finishedBefore = events.stats.generatorsFinished;
    let downstreamClosed = false;
    const c = client(GOOD_TOKEN, '/graphql', () => (downstreamClosed = true), false);
    const sub = collect(c, 'subscription { ticks(count: 1000) { n } }');
    await waitFor(() => sub.events.length >= 2);
    sub.unsubscribe();
    await waitFor(() => events.stats.generatorsFinished === finishedBefore + 1);
    await waitFor(() => events.stats.openSockets === 0);
    expect(downstreamClosed).toBe(false);
    await c.dispose();
  });

  it('closes the upstream subscription when the client disposes its connection', async () => {
    const finishedBefore = events.stats.generatorsFinished;
    const c = client();
    const sub = collect(c, 'subscription { ticks(count: 1000) { n author { name } } }');
    await waitFor(() => sub.events.length >= 2);
    await c.dispose();
    await waitFor(() => events.stats.generatorsFinished === finishedBefore + 1);
    await waitFor(() => events.stats.openSockets === 0);
  });

  it('executes queries over the socket through the hook, and refuses them without one', async () => {
    const viaHook = await collect(client(), '{ user(id: "u2") { name } }').done;
    expect(viaHook.events).toEqual([{ data: { user: { name: 'Name of u2' } } }]);

    const refused = await collect(client(GOOD_TOKEN, '/subscriptions-only'), '{ user(id: "u2") { name } }').done;
    expect(refused.events).toEqual([]);
    expect(refused.error).toEqual([
      expect.objectContaining({ extensions: { code: SubscriptionErrorCode.OperationNotSupported } }),
    ]);
  });

  it('reports validation errors as a graphql-ws error message', async () => {
    const result = await collect(client(), 'subscription { ticks(count: 1) { nope } }').done;
    expect(result.error).toEqual([expect.objectContaining({ message: expect.stringContaining('nope') })]);
  });

  it('keeps the graphql-ws protocol close codes', async () => {
    const url = `${wsUrl}/subscriptions-only`;
    const init = { type: 'connection_init', payload: { authorization: GOOD_TOKEN } };
    const tick = { id: '1', type: 'subscribe', payload: { query: 'subscription { ticks(count: 1000) { n } }' } };
    const codes = await Promise.all([
      rawSocket(url, []), // never initialises
      rawSocket(url, [init, init]),
      rawSocket(url, [tick]), // subscribe before connection_init
      rawSocket(url, [init, tick, tick], true), // duplicate subscription id
      rawSocket(url, [{ type: 'connection_init', payload: { authorization: BAD_TOKEN } }]),
    ]);
    expect(codes).toEqual([
      CloseCode.ConnectionInitialisationTimeout,
      CloseCode.TooManyInitialisationRequests,
      CloseCode.Unauthorized,
      CloseCode.SubscriberAlreadyExists,
      CloseCode.Forbidden,
    ]);
    await waitFor(() => events.stats.openSockets === 0);
  });

  it('answers 404 to upgrades on paths no subscription server serves', async () => {
    const status = await new Promise<number | undefined>((resolve) => {
      const socket = new WebSocket(`${wsUrl}/nowhere`, 'graphql-transport-ws');
      socket.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode);
        socket.terminate();
      });
      socket.on('error', () => resolve(undefined));
    });
    expect(status).toBe(404);
  });

  it('close() closes client sockets with 1001 and their upstream subscriptions', async () => {
    let closeCode: number | undefined;
    const finishedBefore = events.stats.generatorsFinished;
    const sub = collect(
      client(GOOD_TOKEN, '/subscriptions-only', (event) => {
        closeCode = (event as { code: number }).code;
      }),
      'subscription { ticks(count: 1000) { n author { name } } }',
    );
    await waitFor(() => sub.events.length >= 1);
    await subscriptionsOnly.close();
    const result = await sub.done;
    expect(closeCode).toBe(1001);
    expect((result.error as { code?: number }).code).toBe(1001);
    await waitFor(() => events.stats.generatorsFinished === finishedBefore + 1);
    await waitFor(() => events.stats.openSockets === 0);
  });

  // Last: stops the events subgraph for good.
  it('ends the client subscription with a GraphQL error when the events subgraph goes away', async () => {
    const sub = collect(client(), 'subscription { ticks(count: 1000, intervalMs: 20) { n author { name } } }');
    await waitFor(() => sub.events.length >= 2);
    const crashedAt = Date.now();
    await events.crash();
    const result = await sub.done;
    expect(Date.now() - crashedAt).toBeLessThan(3_000);
    // The contract's code, and no address or close reason in what the client reads.
    expect(JSON.stringify(result.error)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1/);
    expect(result.error).toEqual([
      expect.objectContaining({
        message: expect.stringContaining('events'),
        extensions: expect.objectContaining({ code: 'INTERNAL_SERVER_ERROR', reason: SubscriptionErrorCode.UpstreamClosed, retryable: true, serviceName: 'events' }),
      }),
    ]);

    // A new subscription while the subgraph is down fails fast too.
    const refused = await collect(client(), 'subscription { ticks(count: 1) { n } }').done;
    expect(refused.error).toEqual([
      expect.objectContaining({ extensions: expect.objectContaining({ code: 'INTERNAL_SERVER_ERROR', reason: SubscriptionErrorCode.UpstreamClosed }) }),
    ]);
  });
});
