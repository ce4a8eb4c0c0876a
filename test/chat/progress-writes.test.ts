/**
 * Progress writes of streaming replies stay within REPLY_PROGRESS_WRITES_PER_SECOND: each reply
 * saves its text every REPLY_FLUSH_INTERVAL_MS until the replies streaming together would exceed
 * the budget, then less often (so that under load the database keeps up with the streams).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { progressIntervalMs } from '../../subgraphs/messages/generation/generator';
import { startFakeLlm, type FakeLlmServer } from '../support/fake-llm';
import { startTestSystem, type TestSystem } from '../support/system';
import { collect, wsClient } from '../support/ws';

describe('progressIntervalMs', () => {
  it('is the flush interval while the replies streaming stay within the budget, and stretches beyond it', () => {
    expect(progressIntervalMs(500, 1, 200)).toBe(500);
    expect(progressIntervalMs(500, 100, 200)).toBe(500);
    expect(progressIntervalMs(500, 1000, 200)).toBe(5000);
    expect(progressIntervalMs(10, 1, 5)).toBe(200);
  });
});

describe('progress writes under a budget (PGlite)', () => {
  const TOKEN_DELAY_MS = 10;
  let t: TestSystem;
  let llm: FakeLlmServer;
  let user: Awaited<ReturnType<TestSystem['signUp']>>;
  let conversationId: string;

  beforeAll(async () => {
    llm = await startFakeLlm({ tokenDelayMs: TOKEN_DELAY_MS });
    // A flush every 10 ms, but at most 5 writes a second: one reply saves its text every 200 ms.
    t = await startTestSystem('pglite', { LLM_PROVIDER: 'openai', LLM_BASE_URL: llm.baseUrl, REPLY_FLUSH_INTERVAL_MS: '10', REPLY_PROGRESS_WRITES_PER_SECOND: '5' });
    user = await t.signUp('Budget');
    const character = await t.gql(`mutation { createCharacter(input: { name: "Clerk" }) { id } }`, {}, user.token);
    const started = await t.gql(`mutation($c: ID!) { startConversation(input: { characterId: $c }) { id } }`, { c: character.data.createCharacter.id }, user.token);
    conversationId = started.data.startConversation.id;
  });
  afterAll(async () => {
    await t?.stop();
    await llm?.close();
  });

  /** The progress writes (chat_reply_progress_writes_total) of one reply of `tokens` tokens, and how long it took from send to end. */
  async function progressWritesOfReply(tokens: number): Promise<{ writes: number; elapsedMs: number }> {
    llm.setBehaviour({ tokens: Array.from({ length: tokens }, (_, i) => ` w${i}`), tokenDelayMs: TOKEN_DELAY_MS });
    const client = wsClient(t.gatewayUrl, user.token);
    const sub = collect<{ kind: string }>(client, `subscription($id: ID!) { conversationEvents(conversationId: $id) { kind } }`, { id: conversationId }, 'conversationEvents');
    await new Promise((r) => setTimeout(r, 200));
    const counter = t.system.subgraphs.messages.service.telemetry.metrics.registry.getSingleMetric('chat_reply_progress_writes_total');
    const written = async () => (await counter!.get()).values.reduce((sum, v) => sum + v.value, 0);
    const before = await written();
    const started = performance.now();
    const sent = await t.gql(`mutation($id: ID!) { sendMessage(input: { conversationId: $id, content: "Count these." }) { reply { id } } }`, { id: conversationId }, user.token);
    expect(sent.errors).toBeUndefined();
    await sub.until((events) => events.some((e) => e.kind === 'REPLY_COMPLETED'));
    const elapsedMs = performance.now() - started;
    const writes = (await written()) - before;
    sub.stop();
    await client.dispose();
    return { writes, elapsedMs };
  }

  it('writes a long reply’s progress a few times, not once per flush interval', async () => {
    const short = await progressWritesOfReply(2);
    // 60 tokens, 10 ms apart: at least 600 ms of streaming, 60 flush intervals, one budgeted write each 200 ms.
    const long = await progressWritesOfReply(60);
    expect(long.writes).toBeGreaterThanOrEqual(2);
    // However slow the machine, never more than one write per 200 ms of a reply's life.
    for (const reply of [short, long]) expect(reply.writes).toBeLessThanOrEqual(Math.floor(reply.elapsedMs / 200));
  });
});
