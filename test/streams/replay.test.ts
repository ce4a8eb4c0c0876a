/**
 * Replay by cursor through the gateway, across two gateways and two messages instances on one
 * PostgreSQL and one Redis: a client drops mid-reply, the reply completes and a message is sent
 * from another client meanwhile, and the client comes back through the other gateway with
 * graphql-sse's client and `Last-Event-ID`: every event exactly once, in order, the reply that
 * completed meanwhile as its REPLY_COMPLETED. Then `conversationEvents(after:)` over graphql-ws,
 * an expired cursor (CURSOR_EXPIRED) and an unknown one.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Client as SseClient } from 'graphql-sse';
import type { Client as WsClient } from 'graphql-ws';
import type { Config } from '@chat/shared/config';
import type { RunningSubgraph } from '@chat/shared/subgraph';
import { startSubgraph } from '@chat/system';
import { startGateway, type RunningGateway } from '../../gateway/src/gateway';
import { START_TIMEOUT_MS, sendOk, startChat, waitForEnd, waitUntil, type Chat } from '../chat/helpers';
import { startFakeLlm, type FakeLlmServer } from '../support/fake-llm';
import { freePort } from '../support/ports';
import { sseClient, stream, type Stream } from '../support/streams';
import { startTestSystem, type TestSystem } from '../support/system';
import { collect, wsClient } from '../support/ws';

const REDIS_URL = process.env.TEST_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const TOKENS = ['It', ' was', ' the', ' butler', ',', ' of', ' course', '.'];
/** Events kept per conversation in this file: few, so that a cursor expires after a few replies. */
const KEEP_EVENTS = 60;
const EVENTS = /* GraphQL */ `
  subscription($id: ID!, $after: String) {
    conversationEvents(conversationId: $id, after: $after) {
      cursor kind messageId delta sequence
      message { id role status content author { displayName } conversation { character { name } } }
    }
  }`;

/** An event as compared across clients. */
const key = (e: any) => `${e.cursor} ${e.kind} ${e.messageId}`;

describe('replay by cursor across two gateways on Redis', () => {
  let t: TestSystem;
  let llm: FakeLlmServer;
  let messages2: RunningSubgraph<any>;
  let gateway2: RunningGateway;
  let chat: Chat;
  const sse: SseClient[] = [];
  const ws: WsClient[] = [];

  beforeAll(async () => {
    llm = await startFakeLlm({ tokens: TOKENS, tokenDelayMs: 250 });
    t = await startTestSystem('postgres', {
      REDIS_URL,
      LLM_PROVIDER: 'openai',
      LLM_BASE_URL: llm.baseUrl,
      LLM_MODEL: 'test-model',
      REPLAY_KEEP_SECONDS: '0',
      REPLAY_KEEP_EVENTS: String(KEEP_EVENTS),
    });
    // A second messages instance and a second gateway in front of it, on the same database and Redis.
    const [messagesPort, gatewayPort] = await Promise.all([freePort(), freePort()]);
    const config: Config = { ...t.config, subgraphUrls: { ...t.config.subgraphUrls, messages: `http://127.0.0.1:${messagesPort}/graphql` } };
    messages2 = await startSubgraph('messages', config, t.keyring);
    gateway2 = await startGateway(config, t.keyring, { port: gatewayPort });
    chat = await startChat(t, { name: 'Hastings' });
  }, START_TIMEOUT_MS);
  afterAll(async () => {
    sse.forEach((c) => c.dispose());
    await Promise.all(ws.map((c) => c.dispose()));
    await gateway2?.close();
    await messages2?.close();
    await t?.stop();
    await llm?.close();
  });

  const sseTo = (gatewayUrl: string, headers?: () => Record<string, string>) => {
    const client = sseClient(gatewayUrl, chat.user.token, { headers });
    sse.push(client);
    return client;
  };
  const wsTo = (gatewayUrl: string) => {
    const client = wsClient(gatewayUrl, chat.user.token);
    ws.push(client);
    return client;
  };

  it('resumes after a drop mid-reply through the other gateway with Last-Event-ID: every event once, in order', async () => {
    // A witness stays subscribed on gateway 1 the whole time.
    const witness = collect<any>(wsTo(t.gatewayUrl), EVENTS, { id: chat.conversationId }, 'conversationEvents');
    const first: Stream<any> = stream(sseTo(t.gatewayUrl), EVENTS, { id: chat.conversationId }, 'conversationEvents');
    await waitUntil(async () => /chat_ws_subscriptions\{[^}]*\} 1/.test(await (await fetch(`${t.system.gateway.origin}/metrics`)).text()), 20_000, 'the witness');
    await waitUntil(async () => /chat_stream_subscriptions\{[^}]*\} 1/.test(await (await fetch(`${t.system.gateway.origin}/metrics`)).text()), 20_000, 'the first stream');

    const one = await sendOk(t, chat.user.token, chat.conversationId, 'Who did it?');
    await first.until((es) => es.filter((e) => e.kind === 'REPLY_DELTA' && e.messageId === one.reply.id).length >= 2);
    // The drop, mid-reply.
    first.stop();
    const before = [...first.events];
    const lastSeen = before.at(-1).cursor as string;

    // Meanwhile the reply completes, and another client sends a message through gateway 2, whose reply starts.
    await waitForEnd(t, chat.user.token, one.reply.id, 20_000);
    const two = await t.gql(`mutation($input: SendMessageInput!) { sendMessage(input: $input) { message { id } reply { id } } }`, { input: { conversationId: chat.conversationId, content: 'And the motive?' } }, chat.user.token, gateway2.url);
    expect(two.errors).toBeUndefined();
    const replyTwo = two.data.sendMessage.reply.id as string;
    await witness.until((es) => es.filter((e) => e.kind === 'REPLY_DELTA' && e.messageId === replyTwo).length >= 2, 20_000);

    // Back, through gateway 2, as an EventSource would come back: the last event id in Last-Event-ID.
    const resumed = stream(sseTo(gateway2.url, () => ({ 'last-event-id': lastSeen })), EVENTS, { id: chat.conversationId }, 'conversationEvents');
    await resumed.until((es) => es.some((e) => e.kind === 'REPLY_COMPLETED' && e.messageId === replyTwo), 30_000);
    await witness.until((es) => es.some((e) => e.kind === 'REPLY_COMPLETED' && e.messageId === replyTwo), 30_000);
    resumed.stop();
    expect(resumed.errors).toEqual([]);

    const mine = [...before, ...resumed.events];
    // Once each, in cursor order, each as the witness saw it.
    const cursors = mine.map((e) => e.cursor);
    expect(new Set(cursors).size).toBe(cursors.length);
    const witnessed = new Map(witness.events.map((e) => [e.cursor, e]));
    const order = witness.events.map((e) => e.cursor);
    expect(cursors.map((c) => order.indexOf(c))).toEqual([...cursors.map((c) => order.indexOf(c))].sort((a, b) => a - b));
    for (const event of mine) expect(key(witnessed.get(event.cursor))).toBe(key(event));
    // Nothing missed: every event after the drop but the deltas of the reply that completed meanwhile.
    const missed = witness.events.slice(order.indexOf(lastSeen) + 1).filter((e) => !(e.kind === 'REPLY_DELTA' && e.messageId === one.reply.id));
    expect(resumed.events.map(key)).toEqual(missed.map(key));
    // The first reply: the deltas seen before the drop, then its REPLY_COMPLETED with the whole text.
    const completedOne = resumed.events.find((e) => e.kind === 'REPLY_COMPLETED' && e.messageId === one.reply.id);
    expect(completedOne.message).toMatchObject({ content: TOKENS.join(''), conversation: { character: { name: 'Sherlock' } } });
    expect(resumed.events.some((e) => e.kind === 'REPLY_DELTA' && e.messageId === one.reply.id)).toBe(false);
    // The second reply, partly replayed and partly live: its deltas make its whole text.
    expect(resumed.events.filter((e) => e.kind === 'REPLY_DELTA' && e.messageId === replyTwo).map((e) => e.delta).join('')).toBe(TOKENS.join(''));
    const created = resumed.events.find((e) => e.kind === 'MESSAGE_CREATED' && e.message.role === 'USER');
    expect(created.message).toMatchObject({ content: 'And the motive?', author: { displayName: 'Hastings' } });
    witness.stop();
  });

  it('replays from conversationEvents(after:) over graphql-ws, and answers an expired cursor with CURSOR_EXPIRED', async () => {
    const witness = collect<any>(wsTo(t.gatewayUrl), EVENTS, { id: chat.conversationId }, 'conversationEvents');
    // Enough replies that the events before them are no longer kept (the last KEEP_EVENTS only, in this file).
    const oldest: string[] = [];
    while (witness.events.length <= KEEP_EVENTS + 5) {
      const { reply } = await sendOk(t, chat.user.token, chat.conversationId, 'Go on.');
      await witness.until((es) => es.some((e) => e.kind === 'REPLY_COMPLETED' && e.messageId === reply.id), 30_000);
      if (oldest.length === 0) oldest.push(witness.events[0].cursor);
    }
    witness.stop();
    const expired = collect<any>(wsTo(gateway2.url), EVENTS, { id: chat.conversationId, after: oldest[0] }, 'conversationEvents');
    await expired.done;
    expect(expired.events).toEqual([]);
    expect(expired.errors.flat()).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'CURSOR_EXPIRED' }) })]);

    // A cursor still kept: what came after it, nothing before, nothing twice; the reply that ended since as its REPLY_COMPLETED.
    const since = witness.events.slice(-15);
    const ended = new Set(since.filter((e) => e.kind === 'REPLY_COMPLETED').map((e) => e.messageId));
    const expected = since.slice(1).filter((e) => !(e.kind === 'REPLY_DELTA' && ended.has(e.messageId)));
    const replayed = collect<any>(wsTo(gateway2.url), EVENTS, { id: chat.conversationId, after: since[0].cursor }, 'conversationEvents');
    await replayed.until((es) => es.length >= expected.length);
    expect(replayed.events.map(key)).toEqual(expected.map(key));
    expect(replayed.events.at(-1)).toMatchObject({ kind: 'REPLY_COMPLETED', message: { content: TOKENS.join('') } });
    replayed.stop();

    for (const after of ['not-a-cursor', `${Date.now() + 3_600_000}-0`]) {
      const refused = collect<any>(wsTo(gateway2.url), EVENTS, { id: chat.conversationId, after }, 'conversationEvents');
      await refused.done;
      expect(refused.errors.flat()).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) })]);
    }
  });
});
