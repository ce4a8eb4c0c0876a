/** No LLM configured (the offline demo provider), and a user who starts with a single credit (INITIAL_CREDITS=1). */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestSystem, type TestSystem } from '../support/system';
import { collect, wsClient } from '../support/ws';
import {
  EVENTS,
  START_TIMEOUT_MS,
  codeOf,
  conversation,
  credits,
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

describe('offline provider, one credit', () => {
  let t: TestSystem;

  beforeAll(async () => {
    // No LLM_PROVIDER at all: the offline demo provider answers.
    t = await startTestSystem('pglite', { INITIAL_CREDITS: '1', OFFLINE_WORD_DELAY_MS: '2' });
  }, START_TIMEOUT_MS);
  afterAll(async () => {
    await t?.stop();
  }, START_TIMEOUT_MS);

  it('replies offline, says so, charges the reply, and refuses the next message for lack of credits', async () => {
    expect(t.config.llm.provider).toBe('offline');
    const listeners = watchListeners(messagesBus(t));
    const chat = await startChat(t, { name: 'Demo', character: { name: 'Irene' } });
    const token = chat.user.token;
    expect(await credits(t, token)).toBe(1);

    const client = wsClient(t.gatewayUrl, token);
    const sub = collect<any>(client, EVENTS, { id: chat.conversationId }, 'conversationEvents');
    await waitUntil(() => listeners.count(chat.conversationId) === 1, 5_000, 'the subscription upstream');
    const { reply } = await sendOk(t, token, chat.conversationId, 'Is anyone really there?');
    await sub.until(endedReply(reply.id));
    const stored = await waitForEnd(t, token, reply.id);
    expect(stored).toMatchObject({ status: 'COMPLETED', provider: 'offline', error: null });
    expect(stored.content).toMatch(/offline/i);
    expect(stored.content).toMatch(/no LLM is configured/);
    expect(stored.content).toContain('Irene');
    const seen = replyEvents(sub.events, reply.id);
    expect(seen.deltas.length).toBeGreaterThan(1);
    expect(seen.text).toBe(stored.content);
    expect(seen.terminals).toHaveLength(1);
    await client.dispose();

    // The reply's tokens are charged: one credit cannot cover them.
    const total = stored.tokenUsage.totalTokens;
    expect(total).toBeGreaterThan(1);
    await waitUntil(async () => (await credits(t, token)) !== 1, 5_000, 'the charge');
    expect(await credits(t, token)).toBe(1 - total);

    const refused = await send(t, token, chat.conversationId, 'One more?');
    expect(codeOf(refused)).toBe('INSUFFICIENT_CREDITS');
    expect((await conversation(t, token, chat.conversationId)).messageCount).toBe(3);
    // regenerateReply costs credits too.
    const regenerated = await t.gql(`mutation($id: ID!) { regenerateReply(messageId: $id) { id } }`, { id: reply.id }, token);
    expect(codeOf(regenerated)).toBe('INSUFFICIENT_CREDITS');
    expect((await conversation(t, token, chat.conversationId)).messages.at(-1).id).toBe(reply.id);
  });
});
