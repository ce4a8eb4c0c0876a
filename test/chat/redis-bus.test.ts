import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { STREAM } from '../../subgraphs/messages/generation/queue';
import { pauseTokens, startFakeLlm, type FakeLlmServer } from '../support/fake-llm';
import { startTestSystem, type TestSystem } from '../support/system';
import { collect, wsClient } from '../support/ws';
import { waitForEnd } from './helpers';

const REDIS_URL = process.env.TEST_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const EVENTS = `subscription($id: ID!) { conversationEvents(conversationId: $id) { kind messageId delta sequence message { content status } } }`;

describe('live chat with REDIS_URL (events and progress on Redis)', () => {
  let t: TestSystem;
  let llm: FakeLlmServer;
  beforeAll(async () => {
    llm = await startFakeLlm({ tokens: ['one', ' two', ' three', ' four', ' five', ' six'], tokenDelayMs: 80 });
    t = await startTestSystem('postgres', { REDIS_URL, LLM_PROVIDER: 'openai', LLM_BASE_URL: llm.baseUrl, RATE_LIMIT_MESSAGES_PER_MINUTE: '2' });
  });
  afterAll(async () => {
    await t?.stop();
    await llm?.close();
  });

  it('streams through Redis, a late subscriber catches up from the stored progress, and rate limits are counted there', async () => {
    const user = await t.signUp();
    const character = await t.gql(`mutation { createCharacter(input: { name: "Echo" }) { id } }`, {}, user.token);
    const conversation = await t.gql(`mutation($c: ID!) { startConversation(input: { characterId: $c }) { id } }`, { c: character.data.createCharacter.id }, user.token);
    const id = conversation.data.startConversation.id;
    const early = wsClient(t.gatewayUrl, user.token);
    const first = collect<any>(early, EVENTS, { id }, 'conversationEvents');
    await new Promise((r) => setTimeout(r, 300));
    const resume = pauseTokens(llm, 3);
    const sent = await t.gql(`mutation($id: ID!) { sendMessage(input: { conversationId: $id, content: "count" }) { reply { id } } }`, { id }, user.token);
    expect(sent.errors).toBeUndefined();
    await first.until((es) => es.filter((e) => e.kind === 'REPLY_DELTA').length >= 3);
    const late = wsClient(t.gatewayUrl, user.token);
    const second = collect<any>(late, EVENTS, { id }, 'conversationEvents');
    // The late subscriber's catch-up, then the rest of the reply.
    await second.until((es) => es.some((e) => e.kind === 'REPLY_DELTA')).finally(resume);
    const ends = (es: any[]) => es.some((e) => e.kind === 'REPLY_COMPLETED');
    await Promise.all([first.until(ends), second.until(ends)]);
    for (const events of [first.events, second.events]) {
      const deltas = events.filter((e) => e.kind === 'REPLY_DELTA');
      expect(deltas.map((d) => d.delta).join('')).toBe('one two three four five six');
      expect(deltas.at(-1).sequence).toBe(5);
      expect(events.filter((e) => e.kind === 'REPLY_COMPLETED')).toHaveLength(1);
    }
    expect(second.events[0]).toMatchObject({ kind: 'REPLY_DELTA' });
    expect(second.events[0].sequence).toBeGreaterThanOrEqual(2);
    first.stop();
    second.stop();
    await Promise.all([early.dispose(), late.dispose()]);
    const again = await t.gql(`mutation($id: ID!) { sendMessage(input: { conversationId: $id, content: "again" }) { reply { id } } }`, { id }, user.token);
    // A conversation takes its next message once its reply has ended.
    await waitForEnd(t, user.token, again.data.sendMessage.reply.id);
    const refused = await t.gql(`mutation($id: ID!) { sendMessage(input: { conversationId: $id, content: "third" }) { reply { id } } }`, { id }, user.token);
    expect(refused.errors?.[0].extensions?.code).toBe('RATE_LIMITED');
    expect(refused.errors?.[0].extensions?.retryAfterSeconds).toBeGreaterThan(0);
  });

  it('a continued reply streams through Redis too: MESSAGE_UPDATED, then only the new text; a late subscriber gets the whole text so far', async () => {
    const user = await t.signUp();
    const character = await t.gql(`mutation { createCharacter(input: { name: "Echo" }) { id } }`, {}, user.token);
    const conversation = await t.gql(`mutation($c: ID!) { startConversation(input: { characterId: $c }) { id } }`, { c: character.data.createCharacter.id }, user.token);
    const id = conversation.data.startConversation.id;
    const sent = await t.gql(`mutation($id: ID!) { sendMessage(input: { conversationId: $id, content: "count" }) { reply { id } } }`, { id }, user.token);
    const replyId = sent.data.sendMessage.reply.id;
    await waitForEnd(t, user.token, replyId);
    const early = wsClient(t.gatewayUrl, user.token);
    const first = collect<any>(early, EVENTS, { id }, 'conversationEvents');
    await new Promise((r) => setTimeout(r, 300));
    llm.script({ tokens: [' seven', ' eight', ' nine', ' ten'], tokenDelayMs: 150 });
    const resume = pauseTokens(llm, 2);
    const continued = await t.gql(`mutation($id: ID!) { continueReply(messageId: $id) { status content } }`, { id: replyId }, user.token);
    expect(continued.data.continueReply).toEqual({ status: 'STREAMING', content: 'one two three four five six' });
    const deltas = (events: any[]) => events.filter((e) => e.messageId === replyId && e.kind === 'REPLY_DELTA');
    await first.until((es) => deltas(es).length >= 2);
    const late = wsClient(t.gatewayUrl, user.token);
    const second = collect<any>(late, EVENTS, { id }, 'conversationEvents');
    await second.until((es) => deltas(es).length >= 1).finally(resume);
    const ends = (es: any[]) => es.some((e) => e.messageId === replyId && e.kind === 'REPLY_COMPLETED');
    await Promise.all([first.until(ends), second.until(ends)]);
    const stored = await waitForEnd(t, user.token, replyId);
    expect(stored.content).toBe('one two three four five six seven eight nine ten');
    expect(first.events[0]).toMatchObject({ kind: 'MESSAGE_UPDATED', messageId: replyId, message: { status: 'STREAMING', content: 'one two three four five six' } });
    expect(deltas(first.events).map((d) => d.sequence)).toEqual([0, 1, 2, 3]);
    expect(first.events[0].message.content + deltas(first.events).map((d) => d.delta).join('')).toBe(stored.content);
    expect(deltas(second.events)[0].delta.startsWith('one two three four five six seven')).toBe(true);
    expect(deltas(second.events).map((d) => d.delta).join('')).toBe(stored.content);
    await Promise.all([early.dispose(), late.dispose()]);
  });

  it('shows admins the dead-lettered generation jobs, and nobody else', async () => {
    const adminToken = (await t.signUpAdmin()).token;
    const user = await t.signUp();
    const redis = new Redis(REDIS_URL);
    const job = { replyId: '11111111-1111-4111-8111-111111111111', conversationId: '22222222-2222-4222-8222-222222222222', userId: user.id };
    await redis.xadd(`${t.config.redisPrefix}${STREAM.deadLetters}`, '*', 'job', JSON.stringify(job), 'deliveries', '4', 'failedAt', '2026-11-22T00:00:00.000Z');
    await redis.quit();
    const query = `{ generationDeadLetters(first: 5) { replyId conversationId userId deliveries failedAt } }`;
    const seen = await t.gql(query, {}, adminToken);
    expect(seen.errors).toBeUndefined();
    expect(seen.data.generationDeadLetters).toEqual([{ ...job, deliveries: 4, failedAt: '2026-11-22T00:00:00.000Z' }]);
    const refused = await t.gql(query, {}, user.token);
    expect(refused.errors?.[0].extensions?.code).toBe('FORBIDDEN');
  });
});
