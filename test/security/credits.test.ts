/**
 * Credits cannot be overspent or dodged (issue 14, findings 2, 3 and 7), through the gateway against
 * a fake OpenAI-compatible provider, on PostgreSQL with Redis (the engines concurrency is real on):
 * concurrent sends hold at most what the balance covers; cancelled, failed and long replies are
 * charged what they used, whatever happened to the user's token; concurrent regenerations of one
 * reply make one new reply; and the ledger sums to the balance through all of it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { pauseTokens, startFakeLlm, type FakeLlmServer } from '../support/fake-llm';
import { startTestSystem, type TestSystem } from '../support/system';
import { PREVIEWS_PER_MINUTE } from '../../subgraphs/messages/chat/preview';
import { codeOf, credits, sendOk, send, START_TIMEOUT_MS, startChat, waitForEnd, waitUntil } from '../chat/helpers';

const LEDGER = /* GraphQL */ `query($after: String) { me { credits creditLedger(first: 100, after: $after) { edges { node { kind amount balanceAfter replyId } } pageInfo { hasNextPage endCursor } } } }`;
const SETTINGS = /* GraphQL */ `mutation($id: ID!, $max: Int!) { updateConversation(id: $id, settings: { maxTokens: $max }) { id } }`;
const CANCEL = /* GraphQL */ `mutation($id: ID!) { cancelReply(messageId: $id) { id status content } }`;
const REGENERATE = /* GraphQL */ `mutation($id: ID!) { regenerateReply(messageId: $id) { id } }`;
const PROMPT_TOKENS = 40;

/** Every ledger row of the caller, newest first, and their balance. */
async function ledgerOf(t: TestSystem, token: string) {
  const rows: Array<{ kind: string; amount: number; balanceAfter: number; replyId: string | null }> = [];
  let after: string | null = null;
  let balance = 0;
  for (;;) {
    const { data }: { data?: any } = await t.gql(LEDGER, { after }, token);
    balance = data.me.credits;
    rows.push(...data.me.creditLedger.edges.map((e: any) => e.node));
    if (!data.me.creditLedger.pageInfo.hasNextPage) return { rows, balance };
    after = data.me.creditLedger.pageInfo.endCursor;
  }
}

/** Waits until every hold of the user has ended, then checks the ledger sums to the balance and never went below zero. */
async function expectLedgerBalanced(t: TestSystem, token: string) {
  await waitUntil(
    async () => {
      const { rows } = await ledgerOf(t, token);
      const holds = rows.filter((r) => r.kind === 'HOLD').length;
      return rows.filter((r) => r.kind === 'SETTLE' || r.kind === 'RELEASE').length === holds;
    },
    30_000,
    'every hold settled',
  );
  const { rows, balance } = await ledgerOf(t, token);
  expect(rows.reduce((sum, r) => sum + r.amount, 0)).toBe(balance);
  expect(rows.every((r) => r.balanceAfter >= 0)).toBe(true);
  expect(balance).toBeGreaterThanOrEqual(0);
  return { rows, balance };
}

describe('credits, held and settled (PostgreSQL and Redis)', () => {
  let t: TestSystem;
  let llm: FakeLlmServer;

  beforeAll(async () => {
    llm = await startFakeLlm({ tokens: ['One', ' two', ' three', '.'], tokenDelayMs: 2, promptTokens: PROMPT_TOKENS });
    t = await startTestSystem('postgres', {
      REDIS_URL: 'redis://127.0.0.1:6379',
      LLM_PROVIDER: 'openai',
      LLM_BASE_URL: llm.baseUrl,
      LLM_MODEL: 'test-model',
      LLM_MAX_RETRIES: '0',
      LLM_IDLE_TIMEOUT_MS: '1500',
      INITIAL_CREDITS: '5000',
      RATE_LIMIT_MESSAGES_PER_MINUTE: '1000',
    });
  }, START_TIMEOUT_MS);
  afterAll(async () => {
    await t?.stop();
    await llm?.close();
  }, START_TIMEOUT_MS);

  it('of 30 concurrent sends with credits for a few, accepts only what the balance covers, never going below zero', async () => {
    const user = await t.signUp('Spender');
    // 30 conversations, each reply holding its prompt and 1,000 tokens: 5,000 credits cover four.
    const chats = await Promise.all(Array.from({ length: 30 }, () => startChat(t, { user })));
    await Promise.all(chats.map((chat) => t.gql(SETTINGS, { id: chat.conversationId, max: 1_000 }, user.token)));
    // No reply ends before every send is answered: all 30 race for the same 5,000 credits.
    const release = pauseTokens(llm);
    const answers = await Promise.all(chats.map((chat) => send(t, user.token, chat.conversationId, 'Spend it all.'))).finally(release);
    const accepted = answers.filter((a) => a.data?.sendMessage);
    const refused = answers.filter((a) => codeOf(a) === 'INSUFFICIENT_CREDITS');
    expect(accepted.length + refused.length).toBe(30);
    expect(accepted.length).toBe(4);
    for (const a of accepted) await waitForEnd(t, user.token, a.data.sendMessage.reply.id, 30_000);
    const { balance } = await expectLedgerBalanced(t, user.token);
    // Each completed reply cost its prompt and four completion tokens, the rest of its hold went back.
    expect(balance).toBe(5000 - accepted.length * (PROMPT_TOKENS + 4));
  });

  it('keeps the balance equal to the ledger through a storm of 40 concurrent sends with credits for 5, cancels and provider failures', async () => {
    const user = await t.signUp('Storm');
    // Each reply holds its prompt and 900 tokens: 5,000 credits cover five at most.
    const chats = await Promise.all(Array.from({ length: 40 }, () => startChat(t, { user })));
    await Promise.all(chats.map((chat) => t.gql(SETTINGS, { id: chat.conversationId, max: 900 }, user.token)));
    // Whichever replies reach the provider first: one refused outright, one failing midway, the others long enough to cancel.
    const long = { tokens: Array.from({ length: 300 }, (_, i) => ` w${i}`), tokenDelayMs: 5 };
    llm.script({ failTimes: 1, failStatus: 500 }, { tokens: ['a', 'b', 'c', 'd'], hangAfterTokens: 2 }, long, long, long);
    // Only a failure gives credits back while the sends are answered: no reply streams, let alone ends, before.
    const release = pauseTokens(llm);
    const answers = await Promise.all(chats.map((chat) => send(t, user.token, chat.conversationId, 'Storm.'))).finally(release);
    const accepted = answers.filter((a) => a.data?.sendMessage).map((a) => a.data.sendMessage.reply.id as string);
    expect(answers.filter((a) => codeOf(a) === 'INSUFFICIENT_CREDITS').length).toBe(40 - accepted.length);
    expect(accepted.length).toBeGreaterThanOrEqual(1);
    // Cancel every reply still going, all at once, racing their ends.
    await Promise.all(accepted.map((id) => t.gql(CANCEL, { id }, user.token)));
    const ended = await Promise.all(accepted.map((id) => waitForEnd(t, user.token, id, 30_000)));
    expect(ended.every((m) => ['COMPLETED', 'FAILED', 'CANCELLED'].includes(m.status))).toBe(true);
    // Five at once at most: a sixth only once a failed one had given its hold back (none had ended otherwise).
    expect(accepted.length).toBeLessThanOrEqual(5 + ended.filter((m) => m.status === 'FAILED').length);
    const { rows } = await expectLedgerBalanced(t, user.token);
    // Every accepted reply held once and ended once.
    for (const id of accepted) {
      expect(rows.filter((r) => r.replyId === id && r.kind === 'HOLD')).toHaveLength(1);
      expect(rows.filter((r) => r.replyId === id && (r.kind === 'SETTLE' || r.kind === 'RELEASE'))).toHaveLength(1);
    }
    llm.unscript();
  });

  it('charges a reply cancelled near its end for what it used, not nothing', async () => {
    const chat = await startChat(t);
    llm.script({ tokens: Array.from({ length: 400 }, (_, i) => ` w${i}`), tokenDelayMs: 5 });
    const { reply } = await sendOk(t, chat.user.token, chat.conversationId, 'Talk a lot.');
    await waitUntil(async () => ((await waitStatus(t, chat.user.token, reply.id)) ?? '').length > 200, 30_000, 'most of the reply');
    const cancelled = (await t.gql(CANCEL, { id: reply.id }, chat.user.token)).data.cancelReply;
    expect(cancelled.status).toBe('CANCELLED');
    const { rows, balance } = await expectLedgerBalanced(t, chat.user.token);
    const settle = rows.find((r) => r.kind === 'SETTLE' && r.replyId === reply.id);
    expect(settle).toBeDefined();
    // It paid for the prompt it was asked with and the text it kept.
    expect(5000 - balance).toBeGreaterThan(PROMPT_TOKENS);
  });

  it('charges a reply that failed midway for what it used', async () => {
    const chat = await startChat(t);
    // Three tokens, then the provider falls silent: the idle timeout fails the reply with its text kept.
    llm.script({ tokens: ['a', 'b', 'c', 'd', 'e'], hangAfterTokens: 3 });
    const { reply } = await sendOk(t, chat.user.token, chat.conversationId, 'Try.');
    const ended = await waitForEnd(t, chat.user.token, reply.id, 30_000);
    expect(ended).toMatchObject({ status: 'FAILED', content: 'abc' });
    const { rows, balance } = await expectLedgerBalanced(t, chat.user.token);
    expect(rows.find((r) => r.kind === 'SETTLE' && r.replyId === reply.id)).toBeDefined();
    expect(5000 - balance).toBeGreaterThan(PROMPT_TOKENS);
  });

  it('throttles promptPreview, which can start a summary call nobody pays for', async () => {
    const chat = await startChat(t);
    const preview = () => t.gql(`query($id: ID!) { promptPreview(conversationId: $id) { totalTokens } }`, { id: chat.conversationId }, chat.user.token);
    const answers = [];
    for (let i = 0; i < PREVIEWS_PER_MINUTE + 1; i += 1) answers.push(await preview());
    expect(answers.slice(0, PREVIEWS_PER_MINUTE).every((a) => a.data?.promptPreview)).toBe(true);
    expect(codeOf(answers.at(-1)!)).toBe('RATE_LIMITED');
    expect(answers.at(-1)!.errors![0].extensions!.retryAfterSeconds).toBeGreaterThan(0);
  });

  it('of 10 concurrent regenerations of one reply, exactly one makes a new reply; the others are CONFLICT and cost nothing', async () => {
    const chat = await startChat(t);
    // Small replies: the balance covers all ten holds, so only the race decides who is refused.
    await t.gql(SETTINGS, { id: chat.conversationId, max: 50 }, chat.user.token);
    const { reply } = await sendOk(t, chat.user.token, chat.conversationId, 'Again.');
    await waitForEnd(t, chat.user.token, reply.id);
    const answers = await Promise.all(Array.from({ length: 10 }, () => t.gql(REGENERATE, { id: reply.id }, chat.user.token)));
    const winners = answers.filter((a) => a.data?.regenerateReply);
    expect(winners).toHaveLength(1);
    expect(answers.filter((a) => codeOf(a) === 'CONFLICT')).toHaveLength(9);
    await waitForEnd(t, chat.user.token, winners[0].data.regenerateReply.id);
    const { rows } = await expectLedgerBalanced(t, chat.user.token);
    // Two replies were generated and charged: the first and the one new one.
    expect(rows.filter((r) => r.kind === 'SETTLE')).toHaveLength(2);
    const { data } = await t.gql(`query($id: ID!) { conversation(id: $id) { messageCount } }`, { id: chat.conversationId }, chat.user.token);
    expect(data.conversation.messageCount).toBe(3);
  });
});

describe('credits of a reply that outlives its user\'s access token', () => {
  let t: TestSystem;
  let llm: FakeLlmServer;

  beforeAll(async () => {
    llm = await startFakeLlm({ tokens: Array.from({ length: 40 }, (_, i) => ` t${i}`), tokenDelayMs: 100, promptTokens: PROMPT_TOKENS });
    t = await startTestSystem('pglite', { LLM_PROVIDER: 'openai', LLM_BASE_URL: llm.baseUrl, LLM_MODEL: 'test-model', ACCESS_TOKEN_TTL_SECONDS: '2', INITIAL_CREDITS: '5000' });
  }, START_TIMEOUT_MS);
  afterAll(async () => {
    await t?.stop();
    await llm?.close();
  }, START_TIMEOUT_MS);

  it('settles the reply from the messages service, so the charge does not fail when the token expires mid-reply', async () => {
    const chat = await startChat(t);
    let refreshToken = chat.user.refreshToken;
    /** A new access token for the user (the session rotates each time). */
    const fresh = async (): Promise<string> => {
      const { data } = await t.gql(`mutation($r: String!) { refreshSession(refreshToken: $r) { accessToken refreshToken } }`, { r: refreshToken });
      refreshToken = data.refreshSession.refreshToken;
      return data.refreshSession.accessToken;
    };
    const { reply } = await sendOk(t, chat.user.token, chat.conversationId, 'Take your time.');
    // The reply streams for about 4 s; the 2-second token it was sent with expires meanwhile.
    await waitUntil(async () => (await t.gql(`{ me { id } }`, {}, chat.user.token)).errors?.[0]?.extensions?.code === 'UNAUTHENTICATED', 10_000, 'the token to expire');
    expect((await t.gql(`query($id: ID!) { message(id: $id) { status } }`, { id: reply.id }, await fresh())).data.message.status).toMatch(/PENDING|STREAMING/);
    let ended: any;
    await waitUntil(async () => {
      const { data } = await t.gql(`query($id: ID!) { message(id: $id) { status tokenUsage { totalTokens } } }`, { id: reply.id }, await fresh());
      ended = data.message;
      return ended.status !== 'PENDING' && ended.status !== 'STREAMING';
    }, 30_000, 'the reply to end');
    expect(ended.status).toBe('COMPLETED');
    await waitUntil(async () => (await t.gql(`{ me { credits } }`, {}, await fresh())).data.me.credits === 5000 - ended.tokenUsage.totalTokens, 15_000, 'the settlement');
  });
});

/** The stored content of a reply now. */
async function waitStatus(t: TestSystem, token: string, id: string): Promise<string | undefined> {
  const { data } = await t.gql(`query($id: ID!) { message(id: $id) { content } }`, { id }, token);
  return data?.message?.content;
}

