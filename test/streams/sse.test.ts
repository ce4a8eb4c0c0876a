/**
 * Subscriptions over Server-Sent Events (graphql-sse protocol at /graphql/stream) through the real
 * system, with graphql-sse's own client in both its modes: a streamed reply with fields of three
 * subgraphs in its events, the Authorization header refused, the per-user connection quota and
 * the transport's gauges.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Client as SseClient } from 'graphql-sse';
import { START_TIMEOUT_MS, sendOk, startChat, waitForEnd, waitUntil, type Chat } from '../chat/helpers';
import { startFakeLlm, type FakeLlmServer } from '../support/fake-llm';
import { sseClient, stream, type Stream } from '../support/streams';
import { startTestSystem, type TestSystem } from '../support/system';

const REPLY_TOKENS = ['Elementary', ', my', ' dear', ' friend', '.'];
const EVENTS = /* GraphQL */ `
  subscription($id: ID!) {
    conversationEvents(conversationId: $id) {
      kind messageId delta sequence
      message { id role status content author { displayName } conversation { title character { name } } }
    }
  }`;

/** The gateway's metrics text. */
async function metrics(t: TestSystem): Promise<string> {
  return (await fetch(`${t.system.gateway.origin}/metrics`)).text();
}

/** A gauge's value for one transport. */
function gauge(text: string, name: string, transport: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`transport="${transport}"`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('subscriptions over Server-Sent Events', () => {
  let t: TestSystem;
  let llm: FakeLlmServer;
  let chat: Chat;
  const clients: SseClient[] = [];
  const client = (token: string | undefined, singleConnection = false) => {
    const c = sseClient(t.gatewayUrl, token, { singleConnection });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    llm = await startFakeLlm({ tokens: REPLY_TOKENS, tokenDelayMs: 20 });
    t = await startTestSystem('pglite', { LLM_PROVIDER: 'openai', LLM_BASE_URL: llm.baseUrl, LLM_MODEL: 'test-model', WS_MAX_CONNECTIONS_PER_USER: '2' });
    chat = await startChat(t, { name: 'Watson' });
  }, START_TIMEOUT_MS);
  afterAll(async () => {
    clients.forEach((c) => c.dispose());
    await t?.stop();
    await llm?.close();
  });

  /** Sends a message and checks the reply's events as `sub` received them. */
  async function expectStreamedReply(sub: Stream<any>, content: string) {
    const { reply } = await sendOk(t, chat.user.token, chat.conversationId, content);
    const events = await sub.until((es) => es.some((e) => e.kind === 'REPLY_COMPLETED' && e.messageId === reply.id));
    const mine = events.filter((e) => e.messageId === reply.id);
    expect(mine.filter((e) => e.kind === 'REPLY_DELTA').map((e) => e.delta).join('')).toBe(REPLY_TOKENS.join(''));
    const completed = mine.find((e) => e.kind === 'REPLY_COMPLETED');
    expect(completed.message).toMatchObject({ id: reply.id, status: 'COMPLETED', content: REPLY_TOKENS.join(''), conversation: { title: 'Baker Street', character: { name: 'Sherlock' } } });
    const created = events.find((e) => e.kind === 'MESSAGE_CREATED' && e.message.role === 'USER' && e.message.content === content);
    expect(created.message.author).toEqual({ displayName: 'Watson' });
    expect(sub.errors).toEqual([]);
  }

  it('streams a reply to the graphql-sse client, one event stream per operation (distinct connections)', async () => {
    const sub = stream(client(chat.user.token), EVENTS, { id: chat.conversationId }, 'conversationEvents');
    await waitUntil(async () => gauge(await metrics(t), 'chat_stream_subscriptions', 'sse') === 1, 20_000, 'the SSE subscription to open');
    await expectStreamedReply(sub, 'Whose footprints are these?');
    sub.stop();
    await waitUntil(async () => gauge(await metrics(t), 'chat_stream_connections', 'sse') === 0, 20_000, 'the event stream to close');
  });

  it('streams a reply in single connection mode (a reserved stream, operations POSTed beside it)', async () => {
    const sub = stream(client(chat.user.token, true), EVENTS, { id: chat.conversationId }, 'conversationEvents');
    await waitUntil(async () => gauge(await metrics(t), 'chat_stream_subscriptions', 'sse') === 1, 20_000, 'the SSE subscription to open');
    await expectStreamedReply(sub, 'And the mud on his boots?');
    sub.stop();
    await waitUntil(async () => gauge(await metrics(t), 'chat_stream_subscriptions', 'sse') === 0, 20_000, 'the operation to end');
  });

  it('refuses a stream without a valid Authorization header (401, UNAUTHENTICATED)', async () => {
    for (const authorization of [undefined, 'Bearer not-a-token']) {
      const response = await fetch(`${t.gatewayUrl}/stream`, {
        method: 'POST',
        headers: { accept: 'text/event-stream', 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
        body: JSON.stringify({ query: EVENTS, variables: { id: chat.conversationId } }),
      });
      expect(response.status).toBe(401);
      expect(((await response.json()) as any).errors[0].extensions.code).toBe('UNAUTHENTICATED');
    }
    // graphql-sse's client reports it as an error, and nothing stays open.
    const refused = stream(client(undefined), EVENTS, { id: chat.conversationId }, 'conversationEvents');
    await refused.done;
    expect(String(refused.errors[0])).toMatch(/401/);
    expect(gauge(await metrics(t), 'chat_stream_connections', 'sse')).toBe(0);
  });

  it('answers an operation that does not validate as a result with its errors, in the event stream', async () => {
    const sub = stream(client(chat.user.token), 'subscription { conversationEvents(conversationId: "x") { nope } }', {}, 'conversationEvents');
    await sub.done;
    expect(sub.errors).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'GRAPHQL_VALIDATION_FAILED' }) })]);
  });

  it("refuses someone else's conversation with NOT_FOUND, and another user's reserved stream as unknown", async () => {
    const other = await t.signUp('Moriarty');
    const sub = stream(client(other.token), EVENTS, { id: chat.conversationId }, 'conversationEvents');
    await sub.done;
    expect(sub.errors[0].extensions.code).toBe('NOT_FOUND');
    const reserved = await fetch(`${t.gatewayUrl}/stream`, { method: 'PUT', headers: { authorization: `Bearer ${chat.user.token}` } });
    expect(reserved.status).toBe(201);
    const token = await reserved.text();
    const hijack = await fetch(`${t.gatewayUrl}/stream?token=${token}`, { headers: { accept: 'text/event-stream', authorization: `Bearer ${other.token}` } });
    expect(hijack.status).toBe(404);
    await hijack.body?.cancel();
    const deleted = await fetch(`${t.gatewayUrl}/stream?token=${token}&operationId=x`, { method: 'DELETE', headers: { authorization: `Bearer ${other.token}` } });
    expect(deleted.status).toBe(404);
    // Its owner connects to it; when they leave, the reservation and its connection are gone.
    const own = await fetch(`${t.gatewayUrl}/stream?token=${token}`, { headers: { accept: 'text/event-stream', authorization: `Bearer ${chat.user.token}` } });
    expect(own.status).toBe(200);
    await own.body?.cancel();
    await waitUntil(async () => gauge(await metrics(t), 'chat_stream_connections', 'sse') === 0, 20_000, 'the reservation to end');
  });

  it('holds a user to the per-user connection quota across SSE streams (429, RATE_LIMITED)', async () => {
    const user = await t.signUp('Lestrade');
    const mine = await startChat(t, { user });
    const open = [0, 1].map(() => stream(client(user.token), EVENTS, { id: mine.conversationId }, 'conversationEvents'));
    await waitUntil(async () => gauge(await metrics(t), 'chat_stream_subscriptions', 'sse') >= 2, 20_000, 'two streams to open');
    const third = await fetch(`${t.gatewayUrl}/stream`, {
      method: 'POST',
      headers: { accept: 'text/event-stream', 'content-type': 'application/json', authorization: `Bearer ${user.token}` },
      body: JSON.stringify({ query: EVENTS, variables: { id: mine.conversationId } }),
    });
    expect(third.status).toBe(429);
    expect(((await third.json()) as any).errors[0].extensions.code).toBe('RATE_LIMITED');
    open.forEach((s) => s.stop());
    await waitUntil(async () => gauge(await metrics(t), 'chat_stream_connections', 'sse') === 0, 20_000, 'the streams to close');
  });

  it('resumes with Last-Event-ID from the in-process buffer (no Redis): what was missed once, a reply that ended meanwhile as its REPLY_COMPLETED', async () => {
    const query = EVENTS.replace('kind messageId', 'cursor kind messageId');
    const first = stream(client(chat.user.token), query, { id: chat.conversationId }, 'conversationEvents');
    await waitUntil(async () => gauge(await metrics(t), 'chat_stream_subscriptions', 'sse') === 1, 20_000, 'the SSE subscription to open');
    // A slow reply: the drop comes well before its end.
    llm.script({ tokens: REPLY_TOKENS, tokenDelayMs: 300 });
    const { reply } = await sendOk(t, chat.user.token, chat.conversationId, 'Was it the gardener?');
    await first.until((es) => es.some((e) => e.kind === 'REPLY_DELTA' && e.messageId === reply.id));
    first.stop();
    const last = first.events.at(-1).cursor as string;
    const seen = first.events.filter((e) => e.kind === 'REPLY_DELTA').map((e) => e.delta).join('');
    await waitForEnd(t, chat.user.token, reply.id);
    const again = sseClient(t.gatewayUrl, chat.user.token, { headers: () => ({ 'last-event-id': last }) });
    clients.push(again);
    const resumed = stream(again, query, { id: chat.conversationId }, 'conversationEvents');
    const events = await resumed.until((es) => es.some((e) => e.kind === 'REPLY_COMPLETED' && e.messageId === reply.id));
    resumed.stop();
    expect(events.some((e) => e.kind === 'REPLY_DELTA' && e.messageId === reply.id)).toBe(false);
    expect(events.map((e) => e.cursor).every((c: string) => !first.events.some((f) => f.cursor === c))).toBe(true);
    expect(events.at(-1).message.content).toBe(REPLY_TOKENS.join(''));
    expect(REPLY_TOKENS.join('').startsWith(seen)).toBe(true);
    expect(seen.length).toBeLessThan(REPLY_TOKENS.join('').length);
  });

  // Last: the messages subgraph goes away for good.
  it('ends both modes with the contract error when the subgraph goes away, never a hang', async () => {
    const distinct = stream(client(chat.user.token), EVENTS, { id: chat.conversationId }, 'conversationEvents');
    const single = stream(client(chat.user.token, true), EVENTS, { id: chat.conversationId }, 'conversationEvents');
    await waitUntil(async () => gauge(await metrics(t), 'chat_stream_subscriptions', 'sse') === 2, 20_000, 'both subscriptions to open');
    const messages = t.system.subgraphs.messages;
    await messages.close();
    // The system's stop must not close it twice.
    messages.close = async () => undefined;
    await Promise.all([distinct.done, single.done]);
    for (const sub of [distinct, single]) {
      // As over graphql-ws: the contract's code, the gateway's internal detail masked.
      expect(sub.errors).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'INTERNAL_SERVER_ERROR' }) })]);
      expect(JSON.stringify(sub.errors)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1/);
    }
    await waitUntil(async () => gauge(await metrics(t), 'chat_stream_subscriptions', 'sse') === 0, 20_000, 'the operations to end');
  });
});
