import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestSystem, type TestSystem } from '../support/system';
import { collect, wsClient } from '../support/ws';

const REDIS_URL = process.env.TEST_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const EVENTS = `subscription($id: ID!) { conversationEvents(conversationId: $id) { kind } }`;
const STATS = `query($id: ID!) { conversation(id: $id) { messageCount statistics { messageCount totalTokens sessionCount totalSessionSeconds lastSessionEndedAt } } }`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each([
  ['in-process', {}],
  ['Redis', { REDIS_URL }],
] as const)('chat sessions (%s presence)', (_name, env) => {
  let t: TestSystem;
  beforeAll(async () => {
    // A grace period long enough that re-subscribing on a loaded machine stays inside it.
    t = await startTestSystem('pglite', { SESSION_GRACE_MS: '2000', OFFLINE_WORD_DELAY_MS: '1', ...env });
  });
  afterAll(() => t?.stop());

  it('closes a session once its last subscriber has been gone for the grace period, not before, and records its statistics', async () => {
    const me = await t.signUp();
    const character = await t.gql(`mutation { createCharacter(input: { name: "Stats" }) { id } }`, {}, me.token);
    const id = (await t.gql(`mutation($c: ID!) { startConversation(input: { characterId: $c }) { id } }`, { c: character.data.createCharacter.id }, me.token)).data.startConversation.id;

    const client = wsClient(t.gatewayUrl, me.token);
    const first = collect<any>(client, EVENTS, { id }, 'conversationEvents');
    await sleep(300);
    await t.gql(`mutation($id: ID!) { sendMessage(input: { conversationId: $id, content: "hi" }) { reply { id } } }`, { id }, me.token);
    await first.until((es) => es.some((e) => e.kind === 'REPLY_COMPLETED'));
    first.stop();
    // Back within the grace period: the same session goes on.
    await sleep(100);
    const second = collect<any>(client, EVENTS, { id }, 'conversationEvents');
    await sleep(800);
    let stats = (await t.gql(STATS, { id }, me.token)).data.conversation;
    expect(stats.statistics.sessionCount).toBe(0);
    second.stop();
    await client.dispose();

    const deadline = Date.now() + 10_000;
    while (stats.statistics.sessionCount === 0 && Date.now() < deadline) {
      await sleep(200);
      stats = (await t.gql(STATS, { id }, me.token)).data.conversation;
    }
    expect(stats.statistics.sessionCount).toBe(1);
    expect(stats.statistics.messageCount).toBe(stats.messageCount);
    expect(stats.statistics.messageCount).toBe(3);
    expect(stats.statistics.totalTokens).toBeGreaterThan(0);
    expect(stats.statistics.totalSessionSeconds).toBeGreaterThanOrEqual(1);
    expect(stats.statistics.lastSessionEndedAt).not.toBeNull();
  });
});
