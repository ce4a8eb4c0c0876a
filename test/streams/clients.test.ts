/**
 * Frontends' own clients receive a streamed reply through the gateway, fields of three subgraphs in
 * its events: Apollo Client's plain HttpLink (multipart HTTP on POST /graphql), Apollo Client's
 * GraphQLWsLink (graphql-ws), and urql's subscriptionExchange over graphql-sse. The multipart
 * protocol itself: its content type, parts, heartbeats, refusals, and a last error part when the
 * subgraph goes away.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ApolloClient, HttpLink, InMemoryCache, gql, type ApolloLink } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { Client as UrqlClient, fetchExchange, subscriptionExchange } from '@urql/core';
import type { Client as SseClient } from 'graphql-sse';
import type { Client as WsClient } from 'graphql-ws';
import { START_TIMEOUT_MS, sendOk, startChat, waitUntil, type Chat } from '../chat/helpers';
import { startFakeLlm, type FakeLlmServer } from '../support/fake-llm';
import { sseClient, stream, type Stream, type SubscribingClient } from '../support/streams';
import { startTestSystem, type TestSystem } from '../support/system';
import { wsClient } from '../support/ws';

const REPLY_TOKENS = ['Elementary', ', my', ' dear', ' friend', '.'];
const EVENTS = /* GraphQL */ `
  subscription Events($id: ID!) {
    conversationEvents(conversationId: $id) {
      kind messageId delta sequence
      message { id role status content author { displayName } conversation { title character { name } } }
    }
  }`;
const MULTIPART_ACCEPT = 'multipart/mixed;subscriptionSpec="1.0", application/json';

/** An Apollo Client over `link`, subscriptions as a `subscribe(payload, sink)` client. */
function apolloSubscriber(link: ApolloLink): SubscribingClient & { stop(): void } {
  const client = new ApolloClient({ link, cache: new InMemoryCache() });
  return {
    subscribe(payload, sink) {
      const subscription = client.subscribe({ query: gql(payload.query), variables: payload.variables, fetchPolicy: 'no-cache' }).subscribe({
        next: (result: any) => sink.next(result.error ? { data: result.data, errors: [result.error] } : result),
        error: (error: unknown) => sink.error(error),
        complete: () => sink.complete(),
      });
      return () => subscription.unsubscribe();
    },
    stop: () => client.stop(),
  };
}

/** An urql client whose subscriptions go over graphql-sse. */
function urqlSubscriber(url: string, sse: SseClient): SubscribingClient {
  const client = new UrqlClient({
    url,
    exchanges: [
      subscriptionExchange({
        forwardSubscription: (request) => ({
          subscribe: (sink) => ({ unsubscribe: sse.subscribe({ ...request, query: request.query ?? '' }, sink as never) }),
        }),
      }),
      fetchExchange,
    ],
  });
  return {
    subscribe(payload, sink) {
      const { unsubscribe } = client.subscription(payload.query, payload.variables ?? {}).subscribe((result) => {
        sink.next(result.error ? { data: result.data, errors: [result.error] } : { data: result.data });
      });
      return unsubscribe;
    },
  };
}

/** The gateway's metrics text. */
async function metrics(t: TestSystem): Promise<string> {
  return (await fetch(`${t.system.gateway.origin}/metrics`)).text();
}

/** A gauge's value for one transport. */
function gauge(text: string, name: string, transport: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`transport="${transport}"`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

/** A raw multipart subscription: the response, and its parts (parsed JSON) as they arrive. */
async function rawMultipart(t: TestSystem, token: string | undefined, body: Record<string, unknown>) {
  const controller = new AbortController();
  const response = await fetch(t.gatewayUrl, {
    method: 'POST',
    headers: { accept: MULTIPART_ACCEPT, 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
    signal: controller.signal,
  });
  const parts: any[] = [];
  let text = '';
  let ended = false;
  const reading = (async () => {
    if (!response.headers.get('content-type')?.startsWith('multipart/mixed')) return;
    const decoder = new TextDecoder();
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        text += decoder.decode(chunk, { stream: true });
        const pieces = text.split('\r\n--graphql');
        text = pieces.pop() ?? '';
        for (const piece of pieces) {
          const json = piece.slice(piece.indexOf('\r\n\r\n') + 4);
          if (piece.includes('\r\n\r\n')) parts.push(JSON.parse(json));
        }
      }
    } catch {
      // aborted by the test
    }
    ended = true;
  })();
  return { response, parts, ended: () => ended, tail: () => text, reading, stop: () => controller.abort() };
}

describe('frontend clients without a WebSocket (and with one)', () => {
  let t: TestSystem;
  let llm: FakeLlmServer;
  let chat: Chat;
  const cleanups: Array<() => void> = [];

  beforeAll(async () => {
    llm = await startFakeLlm({ tokens: REPLY_TOKENS, tokenDelayMs: 20 });
    t = await startTestSystem('pglite', { LLM_PROVIDER: 'openai', LLM_BASE_URL: llm.baseUrl, LLM_MODEL: 'test-model' });
    chat = await startChat(t, { name: 'Watson' });
  }, START_TIMEOUT_MS);
  afterAll(async () => {
    cleanups.forEach((cleanup) => cleanup());
    await t?.stop();
    await llm?.close();
  });

  /** Opens `sub`, waits until the gateway counts it, sends a message and checks the reply's events. */
  async function expectStreamedReply(sub: Stream<any>, opened: () => Promise<boolean>, content: string) {
    await waitUntil(opened, 20_000, 'the subscription to open');
    const { reply } = await sendOk(t, chat.user.token, chat.conversationId, content);
    const events = await sub.until((es) => es.some((e) => e?.kind === 'REPLY_COMPLETED' && e.messageId === reply.id));
    const mine = events.filter((e) => e.messageId === reply.id);
    expect(mine.filter((e) => e.kind === 'REPLY_DELTA').map((e) => e.delta).join('')).toBe(REPLY_TOKENS.join(''));
    const completed = mine.find((e) => e.kind === 'REPLY_COMPLETED');
    expect(completed.message).toMatchObject({ id: reply.id, status: 'COMPLETED', content: REPLY_TOKENS.join(''), conversation: { title: 'Baker Street', character: { name: 'Sherlock' } } });
    const created = events.find((e) => e.kind === 'MESSAGE_CREATED' && e.message.role === 'USER' && e.message.content === content);
    expect(created.message.author).toMatchObject({ displayName: 'Watson' });
    expect(sub.errors).toEqual([]);
    sub.stop();
  }

  it("Apollo Client's plain HttpLink streams a reply over multipart HTTP", async () => {
    const apollo = apolloSubscriber(new HttpLink({ uri: t.gatewayUrl, headers: { authorization: `Bearer ${chat.user.token}` } }));
    cleanups.push(apollo.stop);
    const sub = stream(apollo, EVENTS, { id: chat.conversationId }, 'conversationEvents');
    await expectStreamedReply(sub, async () => gauge(await metrics(t), 'chat_stream_subscriptions', 'multipart') === 1, 'Whose footprints are these?');
    await waitUntil(async () => gauge(await metrics(t), 'chat_stream_connections', 'multipart') === 0, 20_000, 'the multipart response to end');
  });

  it("Apollo Client's GraphQLWsLink streams a reply over graphql-ws", async () => {
    const ws: WsClient = wsClient(t.gatewayUrl, chat.user.token);
    const apollo = apolloSubscriber(new GraphQLWsLink(ws));
    cleanups.push(apollo.stop, () => void ws.dispose());
    const sub = stream(apollo, EVENTS, { id: chat.conversationId }, 'conversationEvents');
    await expectStreamedReply(sub, async () => /chat_ws_subscriptions\{[^}]*\} 1/.test(await metrics(t)), 'And the mud on his boots?');
  });

  it("urql's subscriptionExchange streams a reply over graphql-sse", async () => {
    const sse = sseClient(t.gatewayUrl, chat.user.token);
    cleanups.push(() => sse.dispose());
    const sub = stream(urqlSubscriber(t.gatewayUrl, sse), EVENTS, { id: chat.conversationId }, 'conversationEvents');
    await expectStreamedReply(sub, async () => gauge(await metrics(t), 'chat_stream_subscriptions', 'sse') === 1, 'Where was he on Tuesday?');
    await waitUntil(async () => gauge(await metrics(t), 'chat_stream_connections', 'sse') === 0, 20_000, 'the event stream to end');
  });

  it('answers multipart with its content type, a {} heartbeat part at once and every few seconds, events in payload', async () => {
    const raw = await rawMultipart(t, chat.user.token, { query: EVENTS, variables: { id: chat.conversationId } });
    cleanups.push(raw.stop);
    expect(raw.response.status).toBe(200);
    expect(raw.response.headers.get('content-type')).toBe('multipart/mixed;boundary="graphql";subscriptionSpec="1.0"');
    await waitUntil(() => raw.parts.length >= 1, 10_000, 'the first part');
    expect(raw.parts[0]).toEqual({});
    await sendOk(t, chat.user.token, chat.conversationId, 'Any tobacco ash?');
    await waitUntil(() => raw.parts.some((p) => p.payload?.data?.conversationEvents?.kind === 'REPLY_COMPLETED'), 20_000, 'the reply to complete');
    await waitUntil(() => raw.parts.filter((p) => Object.keys(p).length === 0).length >= 2, 15_000, 'a second heartbeat');
    raw.stop();
    await raw.reading;
  });

  it('refuses multipart without valid credentials (401), and answers an invalid operation as a plain JSON error', async () => {
    for (const token of [undefined, 'not-a-token']) {
      const raw = await rawMultipart(t, token, { query: EVENTS, variables: { id: chat.conversationId } });
      expect(raw.response.status).toBe(401);
      expect(((await raw.response.json()) as any).errors[0].extensions.code).toBe('UNAUTHENTICATED');
    }
    const invalid = await rawMultipart(t, chat.user.token, { query: 'subscription { conversationEvents(conversationId: "x") { nope } }' });
    expect(invalid.response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(((await invalid.response.json()) as any).errors[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
    await waitUntil(async () => gauge(await metrics(t), 'chat_stream_connections', 'multipart') === 0, 20_000, 'no multipart connection left');
  });

  // Last: the messages subgraph goes away for good.
  it('ends a multipart stream with a last {"payload": null, "errors"} part when the subgraph goes away', async () => {
    const raw = await rawMultipart(t, chat.user.token, { query: EVENTS, variables: { id: chat.conversationId } });
    cleanups.push(raw.stop);
    await waitUntil(async () => gauge(await metrics(t), 'chat_stream_subscriptions', 'multipart') === 1, 20_000, 'the subscription to open');
    const messages = t.system.subgraphs.messages;
    await messages.close();
    // The system's stop must not close it twice.
    messages.close = async () => undefined;
    await raw.reading;
    expect(raw.parts.at(-1)).toEqual({ payload: null, errors: [expect.objectContaining({ extensions: expect.objectContaining({ code: 'INTERNAL_SERVER_ERROR' }) })] });
    expect(raw.tail()).toBe('--\r\n');
  });
});
