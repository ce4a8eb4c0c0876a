/**
 * Shared upstreams: identical subscriptions of the same credentials on one gateway, whatever their
 * transport (two graphql-ws tabs and an SSE stream), run as one upstream subscription, counted by
 * the messages subgraph's own gauge, and each client gets every event. A different selection or
 * another user has its own; a client joining while a reply streams gets its own too (and the text
 * so far, as the contract says); one resuming from a cursor never shares.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Client as SseClient } from 'graphql-sse';
import type { Client as WsClient } from 'graphql-ws';
import { START_TIMEOUT_MS, sendOk, startChat, waitUntil, type Chat } from '../chat/helpers';
import { startFakeLlm, type FakeLlmServer } from '../support/fake-llm';
import { sseClient, stream, type Stream } from '../support/streams';
import { startTestSystem, type TestSystem } from '../support/system';
import { wsClient } from '../support/ws';

const TOKENS = ['One', ' upstream', ',', ' three', ' clients', '.'];
const LONG = Array.from({ length: 40 }, (_, i) => ` w${i}`);
const EVENTS = /* GraphQL */ `
  subscription($id: ID!) {
    conversationEvents(conversationId: $id) { cursor kind messageId delta message { id content author { displayName } } }
  }`;

/** A metric's value (its first line) at `origin`. */
async function metric(origin: string, name: string): Promise<number> {
  const text = await (await fetch(`${origin}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('shared upstreams', () => {
  let t: TestSystem;
  let llm: FakeLlmServer;
  let chat: Chat;
  let messagesOrigin: string;
  const sse: SseClient[] = [];
  const ws: WsClient[] = [];
  const upstreams = () => metric(messagesOrigin, 'chat_conversation_subscriptions');
  const clientSubscriptions = async () =>
    (await metric(t.system.gateway.origin, 'chat_ws_subscriptions')) + (await metric(t.system.gateway.origin, 'chat_stream_subscriptions'));

  beforeAll(async () => {
    llm = await startFakeLlm({ tokens: TOKENS, tokenDelayMs: 150 });
    t = await startTestSystem('pglite', { LLM_PROVIDER: 'openai', LLM_BASE_URL: llm.baseUrl, LLM_MODEL: 'test-model' });
    messagesOrigin = new URL(t.system.subgraphs.messages.url).origin;
    chat = await startChat(t, { name: 'Poirot' });
  }, START_TIMEOUT_MS);
  afterAll(async () => {
    sse.forEach((c) => c.dispose());
    await Promise.all(ws.map((c) => c.dispose()));
    await t?.stop();
    await llm?.close();
  });

  const wsTab = (token = chat.user.token) => {
    const client = wsClient(t.gatewayUrl, token);
    ws.push(client);
    return stream(client as never, EVENTS, { id: chat.conversationId }, 'conversationEvents');
  };
  const sseTab = (token = chat.user.token, query = EVENTS, variables: Record<string, unknown> = { id: chat.conversationId }) => {
    const client = sseClient(t.gatewayUrl, token);
    sse.push(client);
    return stream(client, query, variables, 'conversationEvents');
  };
  const completes = (replyId: string) => (es: any[]) => es.some((e) => e.kind === 'REPLY_COMPLETED' && e.messageId === replyId);
  const textOf = (events: any[], replyId: string) => events.filter((e) => e.kind === 'REPLY_DELTA' && e.messageId === replyId).map((e) => e.delta).join('');

  it('runs identical subscriptions of one user as one upstream subscription, and each client gets every event', async () => {
    expect(await upstreams()).toBe(0);
    const tabs: Stream<any>[] = [wsTab(), wsTab(), sseTab()];
    await waitUntil(async () => (await clientSubscriptions()) === 3, 20_000, 'three client subscriptions');
    // The upstream is counted once the subgraph has it (a moment after the gateway counts its clients): one, never more.
    await waitUntil(async () => (await upstreams()) === 1, 20_000, 'one upstream');

    const { reply } = await sendOk(t, chat.user.token, chat.conversationId, 'Who benefits?');
    await Promise.all(tabs.map((tab) => tab.until(completes(reply.id))));
    const seen = tabs.map((tab) => tab.events.map((e) => `${e.cursor} ${e.kind}`));
    expect(seen[1]).toEqual(seen[0]);
    expect(seen[2]).toEqual(seen[0]);
    for (const tab of tabs) expect(textOf(tab.events, reply.id)).toBe(TOKENS.join(''));

    // One tab closes: the others keep the shared upstream; the last one to leave ends it.
    tabs[0]!.stop();
    await waitUntil(async () => (await clientSubscriptions()) === 2, 20_000, 'one client subscription less');
    expect(await upstreams()).toBe(1);
    tabs.slice(1).forEach((tab) => tab.stop());
    await waitUntil(async () => (await upstreams()) === 0, 20_000, 'the upstream to end');
  });

  it('gives another selection, another user, a client joining mid-reply and one resuming from a cursor their own upstream', async () => {
    const other = await startChat(t, { name: 'Hastings' });
    const first = wsTab();
    const otherSelection = sseTab(chat.user.token, `subscription($id: ID!) { conversationEvents(conversationId: $id) { kind messageId } }`);
    await waitUntil(async () => (await upstreams()) === 2, 20_000, 'two upstreams');
    // Another user, in their own conversation with the same operation text: their own upstream.
    const theirs = sseTab(other.user.token, EVENTS, { id: other.conversationId });
    await waitUntil(async () => (await upstreams()) === 3, 20_000, 'three upstreams');

    // A reply long enough (about 6 s) for a client to join while it streams, however busy the machine.
    llm.script({ tokens: LONG, tokenDelayMs: 150 });
    const { reply } = await sendOk(t, chat.user.token, chat.conversationId, 'And the alibi?');
    await first.until((es) => es.filter((e) => e.kind === 'REPLY_DELTA' && e.messageId === reply.id).length >= 2);
    // Joining while the reply streams: an upstream of its own, which sends the text so far first.
    const late = wsTab();
    await waitUntil(async () => (await upstreams()) === 4, 20_000, 'a fourth upstream');
    await Promise.all([first.until(completes(reply.id)), late.until(completes(reply.id))]);
    expect(textOf(late.events, reply.id)).toBe(LONG.join(''));
    expect(textOf(first.events, reply.id)).toBe(LONG.join(''));

    // Resuming from a cursor: its replay is its own, so it never shares.
    const cursor = first.events[0].cursor;
    const resumed = sseTab(chat.user.token, `subscription($id: ID!, $after: String) { conversationEvents(conversationId: $id, after: $after) { cursor kind messageId delta message { id content author { displayName } } } }`, { id: chat.conversationId, after: cursor });
    await waitUntil(async () => (await upstreams()) === 5, 20_000, 'a fifth upstream');
    await resumed.until(completes(reply.id));
    // What came after the cursor, the reply that ended as its REPLY_COMPLETED.
    const expected = first.events.slice(1).filter((e) => !(e.kind === 'REPLY_DELTA' && e.messageId === reply.id));
    expect(resumed.events.map((e) => `${e.cursor} ${e.kind}`)).toEqual(expected.map((e) => `${e.cursor} ${e.kind}`));

    for (const sub of [first, otherSelection, theirs, late, resumed]) sub.stop();
    await waitUntil(async () => (await upstreams()) === 0, 20_000, 'every upstream to end');
  });
});
