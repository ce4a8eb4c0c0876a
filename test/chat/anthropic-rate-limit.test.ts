/** The Anthropic wire format end to end, and the per-user message rate limit (RATE_LIMIT_MESSAGES_PER_MINUTE=2). */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startFakeLlm, type FakeLlmServer } from '../support/fake-llm';
import { startTestSystem, type TestSystem } from '../support/system';
import { collect, wsClient } from '../support/ws';
import {
  EVENTS,
  START_TIMEOUT_MS,
  codeOf,
  conversation,
  endedReply,
  messagesBus,
  replyEvents,
  send,
  sendOk,
  startChat,
  waitForEnd,
  waitUntil,
  watchListeners,
} from './helpers';

describe('Anthropic provider and rate limits', () => {
  let t: TestSystem;
  let llm: FakeLlmServer;
  let listeners: ReturnType<typeof watchListeners>;

  beforeAll(async () => {
    llm = await startFakeLlm({ tokens: ['Indeed', ',', ' my', ' friend', '.'], tokenDelayMs: 10, promptTokens: 77 });
    t = await startTestSystem('pglite', {
      LLM_PROVIDER: 'anthropic',
      LLM_BASE_URL: llm.url,
      LLM_API_KEY: 'sk-ant-test',
      LLM_MODEL: 'claude-test',
      RATE_LIMIT_MESSAGES_PER_MINUTE: '2',
    });
    listeners = watchListeners(messagesBus(t));
  }, START_TIMEOUT_MS);
  afterAll(async () => {
    await t?.stop();
    await llm?.close();
  }, START_TIMEOUT_MS);

  it('streams and completes a reply over the Anthropic Messages API, with the usage the provider reported', async () => {
    const chat = await startChat(t, { name: 'Watson' });
    const client = wsClient(t.gatewayUrl, chat.user.token);
    const sub = collect<any>(client, EVENTS, { id: chat.conversationId }, 'conversationEvents');
    await waitUntil(() => listeners.count(chat.conversationId) === 1, 5_000, 'the subscription upstream');
    const requestsBefore = llm.requests.length;
    const { reply } = await sendOk(t, chat.user.token, chat.conversationId, 'What do you make of it?');
    await sub.until(endedReply(reply.id));
    const stored = await waitForEnd(t, chat.user.token, reply.id);
    expect(stored).toMatchObject({
      status: 'COMPLETED',
      content: 'Indeed, my friend.',
      provider: 'anthropic',
      model: 'claude-test',
      finishReason: 'end_turn',
      error: null,
      tokenUsage: { promptTokens: 77, completionTokens: 5, totalTokens: 82 },
    });
    const seen = replyEvents(sub.events, reply.id);
    expect(seen.sequences).toEqual([0, 1, 2, 3, 4]);
    expect(seen.text).toBe(stored.content);
    expect(seen.terminals).toMatchObject([{ kind: 'REPLY_COMPLETED', message: { content: stored.content, tokenUsage: stored.tokenUsage } }]);

    expect(llm.requests).toHaveLength(requestsBefore + 1);
    const request = llm.requests[requestsBefore];
    expect(request).toMatchObject({ api: 'anthropic', path: '/v1/messages', finished: true });
    // The SDK sends the key as x-api-key or (SDK 1.x) as a bearer token.
    expect(String(request.headers['x-api-key'] ?? request.headers.authorization)).toMatch(/^(Bearer )?sk-ant-test$/);
    expect(request.body).toMatchObject({ model: 'claude-test', stream: true, max_tokens: 512 });
    expect(request.body.system).toContain('Observant and precise');
    // Turns alternate and open with the user's (the greeting comes after a placeholder user turn).
    const roles = request.body.messages.map((m: any) => m.role);
    expect(roles[0]).toBe('user');
    roles.forEach((role: string, i: number) => i > 0 && expect(role).not.toBe(roles[i - 1]));
    expect(request.body.messages.at(-2)).toEqual({ role: 'assistant', content: 'Come in, Watson.' });
    expect(request.body.messages.at(-1)).toEqual({ role: 'user', content: 'What do you make of it?' });
    await client.dispose();
  });

  it('refuses the third message in a minute with RATE_LIMITED and retryAfterSeconds, storing nothing for it', async () => {
    const chat = await startChat(t, { name: 'Chatterbox' });
    const token = chat.user.token;
    // A conversation takes its next message once its reply has ended.
    const first = await sendOk(t, token, chat.conversationId, 'One.');
    await waitForEnd(t, token, first.reply.id);
    const second = await sendOk(t, token, chat.conversationId, 'Two.');
    await waitForEnd(t, token, second.reply.id);
    const third = await send(t, token, chat.conversationId, 'Three.');
    expect(codeOf(third)).toBe('RATE_LIMITED');
    const retryAfter = third.errors![0].extensions!.retryAfterSeconds;
    expect(typeof retryAfter).toBe('number');
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    const after = await conversation(t, token, chat.conversationId);
    expect(after.messageCount).toBe(5);
    expect(after.messages.filter((m) => m.role === 'USER').map((m) => m.content)).toEqual(['One.', 'Two.']);
    // The limit is per user: someone else may still send.
    const other = await startChat(t, { name: 'Quiet' });
    const allowed = await sendOk(t, other.user.token, other.conversationId, 'My first.');
    await waitForEnd(t, other.user.token, allowed.reply.id);
  });

  it('a maximal message without whitespace does not stall the server while its reply is generated', async () => {
    // The whole system runs in this process: a long synchronous step anywhere shows up as event loop delay here.
    const chat = await startChat(t, { name: 'Typist' });
    const lag = monitorEventLoopDelay({ resolution: 20 });
    lag.enable();
    try {
      const { message, reply } = await sendOk(t, chat.user.token, chat.conversationId, 'x'.repeat(50_000));
      expect(message.content).toHaveLength(50_000);
      expect(await waitForEnd(t, chat.user.token, reply.id, 30_000)).toMatchObject({ status: 'COMPLETED' });
    } finally {
      lag.disable();
    }
    // Seconds of blocking would freeze every stream and request of every user meanwhile.
    expect(Math.round(lag.max / 1e6)).toBeLessThan(1_500);
  }, 45_000);
});
