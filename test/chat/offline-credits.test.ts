/** No LLM configured (the offline demo provider), and users who start with few credits: replies hold what they can cost and settle to what they used. */
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

/** Enough for one reply (its hold: the prompt and maxTokens), not for one asking for 1,500 tokens more. */
const CREDITS = 1_500;
const LEDGER = /* GraphQL */ `{ me { credits creditLedger(first: 20) { edges { node { kind amount balanceAfter replyId } } } } }`;
const SETTINGS = /* GraphQL */ `mutation($id: ID!, $max: Int!) { updateConversation(id: $id, settings: { maxTokens: $max }) { id } }`;

describe('offline provider, few credits', () => {
  let t: TestSystem;

  beforeAll(async () => {
    // No LLM_PROVIDER at all: the offline demo provider answers.
    t = await startTestSystem('pglite', { INITIAL_CREDITS: String(CREDITS), OFFLINE_WORD_DELAY_MS: '2' });
  }, START_TIMEOUT_MS);
  afterAll(async () => {
    await t?.stop();
  }, START_TIMEOUT_MS);

  it('refuses a send whose reply could cost more than the balance, storing nothing and taking nothing', async () => {
    const chat = await startChat(t, { name: 'Poor', character: { name: 'Irene' } });
    await t.gql(SETTINGS, { id: chat.conversationId, max: 4_000 }, chat.user.token);
    const refused = await send(t, chat.user.token, chat.conversationId, 'Hello?');
    expect(codeOf(refused)).toBe('INSUFFICIENT_CREDITS');
    expect(refused.errors![0].extensions).toMatchObject({ balance: CREDITS });
    expect((await conversation(t, chat.user.token, chat.conversationId)).messageCount).toBe(1);
    expect(await credits(t, chat.user.token)).toBe(CREDITS);
  });

  it('replies offline, says so, holds and then settles to exactly its tokens, and refuses what it can no longer cover', async () => {
    expect(t.config.llm.providers.map((p) => p.kind)).toEqual(['offline']);
    const listeners = watchListeners(messagesBus(t));
    const chat = await startChat(t, { name: 'Demo', character: { name: 'Irene' } });
    const token = chat.user.token;
    await t.gql(SETTINGS, { id: chat.conversationId, max: 200 }, token);
    expect(await credits(t, token)).toBe(CREDITS);

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

    // Held when sent, settled when it ended: it costs exactly its tokens, and the ledger sums to the balance.
    const total = stored.tokenUsage.totalTokens;
    await waitUntil(async () => (await credits(t, token)) === CREDITS - total, 10_000, 'the settlement');
    const { me } = (await t.gql(LEDGER, {}, token)).data;
    const entries = me.creditLedger.edges.map((e: any) => e.node);
    expect(entries.map((e: any) => e.kind)).toEqual(['SETTLE', 'HOLD', 'INITIAL']);
    expect(entries.filter((e: any) => e.kind !== 'INITIAL').every((e: any) => e.replyId === reply.id)).toBe(true);
    expect(entries.reduce((sum: number, e: any) => sum + e.amount, 0)).toBe(me.credits);
    expect(entries[0].balanceAfter).toBe(me.credits);

    // A reply that may write 1,500 tokens can no longer be covered: sends and regenerations are refused, nothing changes.
    await t.gql(SETTINGS, { id: chat.conversationId, max: 1_500 }, token);
    const refused = await send(t, token, chat.conversationId, 'One more?');
    expect(codeOf(refused)).toBe('INSUFFICIENT_CREDITS');
    expect((await conversation(t, token, chat.conversationId)).messageCount).toBe(3);
    const regenerated = await t.gql(`mutation($id: ID!) { regenerateReply(messageId: $id) { id } }`, { id: reply.id }, token);
    expect(codeOf(regenerated)).toBe('INSUFFICIENT_CREDITS');
    expect((await conversation(t, token, chat.conversationId)).messages.at(-1).id).toBe(reply.id);
    expect(await credits(t, token)).toBe(CREDITS - total);
  });
});
