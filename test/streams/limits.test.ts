/**
 * The HTTP transports keep graphql-ws's rules: an event stream or a multipart response whose access
 * token expires ends at that moment with a last UNAUTHENTICATED error, and a single-connection SSE
 * stream holds at most WS_MAX_SUBSCRIPTIONS_PER_CONNECTION operations (one more: RATE_LIMITED).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Client as SseClient } from 'graphql-sse';
import { START_TIMEOUT_MS, startChat, waitUntil, type Chat } from '../chat/helpers';
import { sseClient, stream } from '../support/streams';
import { startTestSystem, type TestSystem } from '../support/system';

const EVENTS = `subscription($id: ID!) { conversationEvents(conversationId: $id) { kind messageId } }`;
const TTL_SECONDS = 6;

describe('limits and token expiry over SSE and multipart', () => {
  let t: TestSystem;
  const clients: SseClient[] = [];

  beforeAll(async () => {
    t = await startTestSystem('pglite', { ACCESS_TOKEN_TTL_SECONDS: String(TTL_SECONDS), WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: '2' });
  }, START_TIMEOUT_MS);
  afterAll(async () => {
    clients.forEach((c) => c.dispose());
    await t?.stop();
  });

  /** A fresh user with a conversation, and when their token was issued. */
  async function freshChat(): Promise<Chat & { issued: number }> {
    const issued = Date.now();
    return { ...(await startChat(t)), issued };
  }

  it('ends an SSE stream and a multipart response when their access token expires, with UNAUTHENTICATED', async () => {
    const chat = await freshChat();
    const client = sseClient(t.gatewayUrl, chat.user.token);
    clients.push(client);
    const sse = stream(client, EVENTS, { id: chat.conversationId }, 'conversationEvents');
    const multipart = await fetch(t.gatewayUrl, {
      method: 'POST',
      headers: { accept: 'multipart/mixed;subscriptionSpec="1.0",application/json', 'content-type': 'application/json', authorization: `Bearer ${chat.user.token}` },
      body: JSON.stringify({ query: EVENTS, variables: { id: chat.conversationId } }),
    });
    expect(multipart.headers.get('content-type')).toMatch(/^multipart\/mixed/);
    const body = multipart.text();
    await sse.done;
    const parts = (await body).split('\r\n--graphql').map((p) => p.slice(p.indexOf('\r\n\r\n') + 4)).filter((p) => p.startsWith('{'));
    const lived = Date.now() - chat.issued;
    expect(lived).toBeGreaterThan((TTL_SECONDS - 2) * 1000);
    expect(lived).toBeLessThan((TTL_SECONDS + 6) * 1000);
    expect(sse.errors).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'UNAUTHENTICATED' }) })]);
    expect(JSON.parse(parts.at(-1)!)).toEqual({ payload: null, errors: [expect.objectContaining({ message: expect.stringContaining('expired'), extensions: expect.objectContaining({ code: 'UNAUTHENTICATED' }) })] });
  }, 30_000);

  it('refuses one operation too many on a single-connection stream with RATE_LIMITED', async () => {
    const chat = await freshChat();
    const auth = { authorization: `Bearer ${chat.user.token}` };
    const token = await (await fetch(`${t.gatewayUrl}/stream`, { method: 'PUT', headers: auth })).text();
    const events = await fetch(`${t.gatewayUrl}/stream`, { headers: { ...auth, accept: 'text/event-stream', 'x-graphql-event-stream-token': token } });
    expect(events.status).toBe(200);
    const reader = events.body!.getReader();
    let received = '';
    void (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        received += new TextDecoder().decode(value);
      }
    })();
    for (const operationId of ['a', 'b', 'c']) {
      const posted = await fetch(`${t.gatewayUrl}/stream`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json', 'x-graphql-event-stream-token': token },
        body: JSON.stringify({ query: EVENTS, variables: { id: chat.conversationId }, extensions: { operationId } }),
      });
      expect(posted.status).toBe(202);
    }
    await waitUntil(() => received.includes('"id":"c"'), 10_000, 'the answer to the third operation');
    const third = received.split('\n\n').find((m) => m.includes('event: next') && m.includes('"id":"c"'))!;
    expect(JSON.parse(third.slice(third.indexOf('data: ') + 6)).payload.errors[0].extensions.code).toBe('RATE_LIMITED');
    expect(received).not.toMatch(/"id":"[ab]","payload":\{"errors"/);
    await reader.cancel();
  }, 30_000);
});
