/**
 * User.usage, usageReport and Conversation.stats through the gateway on both engines: every sum checked against the
 * replies that produced it (tokens, latency, credits against the balance), each grouping, time ranges, sessions, and
 * who may read what.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { credits, EVENTS, MESSAGE_FIELDS, messagesBus, START_TIMEOUT_MS, startChat, waitUntil, watchListeners, type Chat } from '../chat/helpers';
import { startFakeLlm, type FakeLlmServer } from '../support/fake-llm';
import { ENGINES, startTestSystem, type TestSystem } from '../support/system';
import { collect, wsClient } from '../support/ws';
import { codeOf, exchange, ok } from './helpers';

const BUCKET = 'key replies promptTokens completionTokens totalTokens credits averageLatencyMs averageTimeToFirstTokenMs';
const MY_USAGE = /* GraphQL */ `query($groupBy: UsageGrouping!, $from: DateTime, $to: DateTime) { me { usage(groupBy: $groupBy, from: $from, to: $to) { ${BUCKET} } } }`;
const REPORT = /* GraphQL */ `query($groupBy: UsageGrouping!) { usageReport(groupBy: $groupBy) { ${BUCKET} } }`;
const STATS = /* GraphQL */ `
  query($id: ID!) { conversation(id: $id) { stats { messageCount userMessages replies totalTokens sessions totalSessionSeconds averageReplyLatencyMs firstMessageAt lastMessageAt } } }`;
const MESSAGE = /* GraphQL */ `query($id: ID!) { message(id: $id) { ${MESSAGE_FIELDS} createdAt } }`;
/** The users subgraph's default: every test user starts with it. */
const INITIAL_CREDITS = 100_000;

const sum = (replies: any[], pick: (r: any) => number) => replies.reduce((total, r) => total + pick(r), 0);

describe.each(ENGINES)('usage and conversation statistics (%s)', (engine) => {
  let t: TestSystem;
  let llm: FakeLlmServer;
  let listeners: ReturnType<typeof watchListeners>;
  let baker: Chat;
  let moor: Chat;
  let other: Chat;
  const replies: { baker: any[]; moor: any[]; other: any[] } = { baker: [], moor: [], other: [] };

  beforeAll(async () => {
    llm = await startFakeLlm({ tokens: ['Fine.'], tokenDelayMs: 1, promptTokens: 40 });
    t = await startTestSystem(engine, { LLM_PROVIDER: 'openai', LLM_BASE_URL: llm.baseUrl, LLM_MODEL: 'test-model', RATE_LIMIT_MESSAGES_PER_MINUTE: '1000', SESSION_GRACE_MS: '200' });
    listeners = watchListeners(messagesBus(t));
    baker = await startChat(t, { name: 'Counter' });
    moor = await startChat(t, { user: baker.user, character: { name: 'Hound', greeting: 'Grr.' } });
    other = await startChat(t, { name: 'Elsewhere' });
    const reread = async (chat: Chat, id: string) => (await ok(t, MESSAGE, { id }, chat.user.token)) as any;
    for (const [i, text] of ['One two three.', 'Four five six seven.', 'Eight.'].entries()) {
      const { reply } = await exchange(t, llm, baker, `Question ${i}?`, text);
      replies.baker.push(await reread(baker, reply.id));
    }
    replies.moor.push(await reread(moor, (await exchange(t, llm, moor, 'Howl?', 'A long, low howl across the moor.')).reply.id));
    replies.other.push(await reread(other, (await exchange(t, llm, other, 'Hello?', 'Hi.')).reply.id));
  }, START_TIMEOUT_MS * 2);
  afterAll(async () => {
    await t?.stop();
    await llm?.close();
  }, START_TIMEOUT_MS);

  it("sums the user's replies by model, with tokens, latency, time to first token and credits", async () => {
    const mine = [...replies.baker, ...replies.moor];
    const [bucket, ...rest] = (await ok(t, MY_USAGE, { groupBy: 'MODEL' }, baker.user.token)).usage;
    expect(rest).toEqual([]);
    expect(bucket).toMatchObject({
      key: 'test-model',
      replies: 4,
      promptTokens: sum(mine, (r) => r.tokenUsage.promptTokens),
      completionTokens: sum(mine, (r) => r.tokenUsage.completionTokens),
      totalTokens: sum(mine, (r) => r.tokenUsage.totalTokens),
    });
    expect(bucket.promptTokens).toBe(4 * 40);
    expect(Math.abs(bucket.averageLatencyMs - sum(mine, (r) => r.latencyMs) / 4)).toBeLessThanOrEqual(1);
    expect(bucket.averageTimeToFirstTokenMs).toEqual(expect.any(Number));
    expect(bucket.averageTimeToFirstTokenMs).toBeLessThanOrEqual(bucket.averageLatencyMs);
    // What the user was charged is what their balance lost, once every settlement has landed.
    expect(bucket.credits).toBeGreaterThan(0);
    await waitUntil(async () => INITIAL_CREDITS - (await credits(t, baker.user.token)) === bucket.credits, 30_000, 'the settlements');
  });

  it('groups by day, provider and character', async () => {
    const token = baker.user.token;
    const today = new Date().toISOString().slice(0, 10);
    const days = (await ok(t, MY_USAGE, { groupBy: 'DAY' }, token)).usage;
    // A test running across midnight (UTC) may see two days.
    expect(days.map((d: any) => d.key).every((key: string) => key <= today && key >= new Date(Date.now() - 86_400_000).toISOString().slice(0, 10))).toBe(true);
    expect(sum(days, (d) => d.replies)).toBe(4);
    const providers = (await ok(t, MY_USAGE, { groupBy: 'PROVIDER' }, token)).usage;
    expect(providers.map((p: any) => [p.key, p.replies])).toEqual([[replies.baker[0].provider, 4]]);
    const characters = (await ok(t, MY_USAGE, { groupBy: 'CHARACTER' }, token)).usage;
    expect(characters.map((c: any) => [c.key, c.replies, c.totalTokens]).sort()).toEqual(
      [
        [baker.characterId, 3, sum(replies.baker, (r) => r.tokenUsage.totalTokens)],
        [moor.characterId, 1, replies.moor[0].tokenUsage.totalTokens],
      ].sort(),
    );
  });

  it('keeps to the time range: replies that ended in [from, to)', async () => {
    const token = baker.user.token;
    const lastEnded = replies.moor[0].completedAt;
    expect((await ok(t, MY_USAGE, { groupBy: 'MODEL', from: new Date(Date.now() + 60_000).toISOString() }, token)).usage).toEqual([]);
    expect((await ok(t, MY_USAGE, { groupBy: 'MODEL', to: replies.baker[0].completedAt }, token)).usage).toEqual([]);
    const [upToLast] = (await ok(t, MY_USAGE, { groupBy: 'MODEL', to: lastEnded }, token)).usage;
    expect(upToLast.replies).toBe(3);
    const [fromLast] = (await ok(t, MY_USAGE, { groupBy: 'MODEL', from: lastEnded }, token)).usage;
    expect(fromLast.replies).toBe(1);
    expect(codeOf(await t.gql(MY_USAGE, { groupBy: 'MODEL', from: 'last week' }, token))).toBe('BAD_USER_INPUT');
    expect(codeOf(await t.gql(MY_USAGE, { groupBy: 'MODEL', from: lastEnded, to: replies.baker[0].completedAt }, token))).toBe('BAD_USER_INPUT');
  });

  it("reports every user's usage to admins only, and a user's usage to themself or an admin", async () => {
    expect(codeOf(await t.gql(REPORT, { groupBy: 'MODEL' }, baker.user.token))).toBe('FORBIDDEN');
    const admin = await t.signUpAdmin();
    const [all] = await ok(t, REPORT, { groupBy: 'MODEL' }, admin.token);
    const every = [...replies.baker, ...replies.moor, ...replies.other];
    expect(all).toMatchObject({ key: 'test-model', replies: 5, totalTokens: sum(every, (r) => r.tokenUsage.totalTokens) });
    // An admin reads a user's usage through their conversation.
    const seen = await ok(t, `query($id: ID!) { conversation(id: $id) { user { usage(groupBy: MODEL) { replies } } } }`, { id: other.conversationId }, admin.token);
    expect(seen.user.usage).toEqual([{ replies: 1 }]);
    // Anyone else asking the messages subgraph for another user's usage is refused.
    const res = await t.subgraphGql(
      'messages',
      `query($r: [_Any!]!) { _entities(representations: $r) { ... on User { usage(groupBy: MODEL) { replies } } } }`,
      { r: [{ __typename: 'User', id: other.user.id }] },
      { token: baker.user.token },
    );
    expect(codeOf(res)).toBe('FORBIDDEN');
  });

  it("counts a conversation's messages, replies, tokens, latency and sessions", async () => {
    const token = baker.user.token;
    const stats = (await ok(t, STATS, { id: baker.conversationId }, token)).stats;
    expect(stats).toMatchObject({
      messageCount: 7,
      userMessages: 3,
      replies: 3,
      totalTokens: sum(replies.baker, (r) => r.tokenUsage.totalTokens),
      sessions: 0,
      totalSessionSeconds: 0,
    });
    expect(Math.abs(stats.averageReplyLatencyMs - sum(replies.baker, (r) => r.latencyMs) / 3)).toBeLessThanOrEqual(1);
    expect(Date.parse(stats.firstMessageAt)).toBeLessThan(Date.parse(stats.lastMessageAt));
    expect(stats.lastMessageAt).toBe(new Date(replies.baker[2].createdAt).toISOString());

    // A session: someone subscribes, then leaves; it ends after the grace period.
    const client = wsClient(t.gatewayUrl, token);
    const events = collect<any>(client, EVENTS, { id: baker.conversationId }, 'conversationEvents');
    await waitUntil(() => listeners.count(baker.conversationId) === 1, 10_000, 'the subscription upstream');
    await exchange(t, llm, baker, 'Still there?', 'Yes.');
    await events.until((e) => e.some((event) => event.kind === 'REPLY_COMPLETED'));
    events.stop();
    await client.dispose();
    await waitUntil(async () => (await ok(t, STATS, { id: baker.conversationId }, token)).stats.sessions === 1, 15_000, 'the session to end');
    const after = (await ok(t, STATS, { id: baker.conversationId }, token)).stats;
    expect(after).toMatchObject({ messageCount: 9, userMessages: 4, replies: 4 });

    // In a list, for every conversation, and never for someone else's.
    const list = await ok(t, `{ me { conversations(first: 10) { edges { node { id stats { replies } } } } } }`, {}, token);
    expect(list.conversations.edges.map((e: any) => [e.node.id, e.node.stats.replies]).sort()).toEqual([[baker.conversationId, 4], [moor.conversationId, 1]].sort());
    const res = await t.gql(STATS, { id: baker.conversationId }, other.user.token);
    expect(res.data?.conversation ?? null).toBeNull();
  });
});
