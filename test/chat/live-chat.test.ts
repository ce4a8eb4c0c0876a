/**
 * Live chat through the gateway with real graphql-ws clients, against a fake OpenAI-compatible server:
 * late joining, cancel, regenerate, idempotency, credits, content rules, other users, promptPreview,
 * a client leaving mid-reply, the graphql-transport-ws protocol as our gateway speaks it, and (last, sharing
 * this system to save a start-up) provider failures: errors past the retries, the circuit breaker, the first-token timeout.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startFakeLlm, type FakeLlmServer } from '../support/fake-llm';
import { startTestSystem, type TestSystem } from '../support/system';
import type { Client } from 'graphql-ws';
import { collect, wsClient, type Collector } from '../support/ws';
import {
  EVENTS,
  START_TIMEOUT_MS,
  closedWithin,
  codeOf,
  conversation,
  credits,
  endedReply,
  rawSocket,
  replyEvents,
  send,
  sendOk,
  sleep,
  startChat,
  waitForEnd,
  waitUntil,
  watchListeners,
  watchUpgrades,
  MESSAGE,
  messagesBus,
  within,
  type Chat,
} from './helpers';

/** Each system start costs ~20 s of CPU, so the provider failure tests share this file's system. */
const FIRST_TOKEN_TIMEOUT_MS = 1_500;
const BREAKER_RESET_MS = 3_000;
const REGENERATE = /* GraphQL */ `mutation($id: ID!) { regenerateReply(messageId: $id) { id role status content } }`;
const CANCEL = /* GraphQL */ `mutation($id: ID!) { cancelReply(messageId: $id) { id status content finishReason completedAt } }`;
const PREVIEW = /* GraphQL */ `
  query($id: ID!) { promptPreview(conversationId: $id) { strategy totalTokens budgetTokens droppedMessages parts { kind role content tokens } } }`;

describe('live chat through the gateway (OpenAI wire format)', () => {
  let t: TestSystem;
  let llm: FakeLlmServer;
  let upstream: ReturnType<typeof watchUpgrades>;
  let listeners: ReturnType<typeof watchListeners>;

  beforeAll(async () => {
    llm = await startFakeLlm({ tokens: ['Hello', ' from', ' the', ' fake', ' model', '.'], tokenDelayMs: 5 });
    t = await startTestSystem('pglite', {
      LLM_PROVIDER: 'openai',
      LLM_BASE_URL: llm.baseUrl,
      LLM_MODEL: 'test-model',
      REPLY_FLUSH_INTERVAL_MS: '10',
      // For the provider failure tests (last in this file): one retry, quick backoff, a short first-token wait, a touchy breaker.
      LLM_MAX_RETRIES: '1',
      LLM_RETRY_BASE_DELAY_MS: '10',
      LLM_FIRST_TOKEN_TIMEOUT_MS: String(FIRST_TOKEN_TIMEOUT_MS),
      LLM_BREAKER_FAILURES: '2',
      LLM_BREAKER_RESET_MS: String(BREAKER_RESET_MS),
    });
    const messages = t.system.subgraphs.messages;
    upstream = watchUpgrades(messages.server);
    // Every context of the messages subgraph shares one event bus: count its live listeners per conversation.
    listeners = watchListeners(messagesBus(t));
  }, START_TIMEOUT_MS);
  /** graphql-ws does not acknowledge a subscribe: wait until the messages subgraph listens for the conversation. */
  const subscribed = (conversationId: string, n: number) =>
    waitUntil(() => listeners.count(conversationId) === n, 5_000, `${n} subscriber(s) upstream`);
  afterAll(async () => {
    await t?.stop();
    await llm?.close();
  }, START_TIMEOUT_MS);

  it('a subscriber joining mid-reply first gets the text so far as one delta, then the rest; both see the whole reply once', async () => {
    const chat = await startChat(t, { name: 'Early' });
    const tokens = Array.from({ length: 10 }, (_, i) => `w${i} `);
    llm.script({ tokens, tokenDelayMs: 100 });
    const early = wsClient(t.gatewayUrl, chat.user.token);
    const first = collect<any>(early, EVENTS, { id: chat.conversationId }, 'conversationEvents');
    await subscribed(chat.conversationId, 1);
    const { reply } = await sendOk(t, chat.user.token, chat.conversationId, 'Tell me ten words, slowly.');
    await first.until((es) => replyEvents(es, reply.id).deltas.length >= 2);

    const late = wsClient(t.gatewayUrl, chat.user.token);
    const second = collect<any>(late, EVENTS, { id: chat.conversationId }, 'conversationEvents');
    await Promise.all([first.until(endedReply(reply.id)), second.until(endedReply(reply.id))]);
    await sleep(300); // a duplicate terminal event would arrive by now
    const stored = await waitForEnd(t, chat.user.token, reply.id);
    expect(stored).toMatchObject({ status: 'COMPLETED', content: tokens.join('') });

    const a = replyEvents(first.events, reply.id);
    expect(a.sequences).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(a.text).toBe(stored.content);
    expect(a.terminals).toHaveLength(1);
    expect(a.terminals[0].kind).toBe('REPLY_COMPLETED');
    // The terminal event's message is what a later query returns.
    const { id, role, status, content, error, finishReason, provider, model, tokenUsage } = stored;
    expect(a.terminals[0].message).toEqual({ id, role, status, content, error, finishReason, provider, model, tokenUsage });

    const b = replyEvents(second.events, reply.id);
    const k = b.sequences[0];
    // It joined after at least two pieces were out and before the last one.
    expect(k).toBeGreaterThanOrEqual(1);
    expect(k).toBeLessThan(9);
    expect(b.deltas[0].delta).toBe(tokens.slice(0, k + 1).join(''));
    expect(b.sequences).toEqual(Array.from({ length: 10 - k }, (_, i) => k + i));
    expect(b.text).toBe(stored.content);
    expect(b.terminals).toHaveLength(1);
    expect(b.terminals[0]).toMatchObject({ kind: 'REPLY_COMPLETED', message: { content: stored.content } });
    // The late subscriber saw nothing of this reply before its catch-up delta.
    expect(second.events.filter((e) => e.messageId === reply.id).indexOf(b.deltas[0])).toBe(0);
    await Promise.all([early.dispose(), late.dispose()]);
  });

  it('cancelReply stops a streaming reply within a second, keeps the text so far and closes the provider connection', async () => {
    const chat = await startChat(t, { name: 'Canceller' });
    const tokens = Array.from({ length: 40 }, (_, i) => `t${i} `);
    llm.script({ tokens, tokenDelayMs: 100 });
    const client = wsClient(t.gatewayUrl, chat.user.token);
    const sub = collect<any>(client, EVENTS, { id: chat.conversationId }, 'conversationEvents');
    await subscribed(chat.conversationId, 1);
    const requestsBefore = llm.requests.length;
    const { reply } = await sendOk(t, chat.user.token, chat.conversationId, 'Count to forty.');
    await sub.until((es) => replyEvents(es, reply.id).deltas.length >= 3);
    const providerRequest = llm.requests[requestsBefore];

    const startedAt = Date.now();
    const cancelled = await t.gql(CANCEL, { id: reply.id }, chat.user.token);
    const took = Date.now() - startedAt;
    expect(cancelled.errors).toBeUndefined();
    expect(took).toBeLessThan(1_000);
    const result = cancelled.data.cancelReply;
    expect(result).toMatchObject({ id: reply.id, status: 'CANCELLED' });
    expect(result.completedAt).toBeTruthy();
    expect(result.content.length).toBeGreaterThan(0);
    expect(tokens.join('').startsWith(result.content)).toBe(true);
    expect(result.content).not.toBe(tokens.join(''));

    await sub.until(endedReply(reply.id));
    await sleep(300);
    const seen = replyEvents(sub.events, reply.id);
    expect(seen.terminals).toHaveLength(1);
    expect(seen.terminals[0]).toMatchObject({ kind: 'REPLY_CANCELLED', message: { status: 'CANCELLED', content: result.content } });
    expect(seen.text).toBe(result.content);

    const later = await t.gql(MESSAGE, { id: reply.id }, chat.user.token);
    expect(later.data.message).toMatchObject({ status: 'CANCELLED', content: result.content });
    // The provider's response was cut off by the client, not sent to the end.
    await waitUntil(() => providerRequest.clientDisconnected, 3_000, 'the provider connection to close');
    expect(providerRequest.finished).toBe(false);
    expect(llm.requests.length).toBe(requestsBefore + 1);
    // Cancelling again returns the reply as it ended.
    const again = await t.gql(CANCEL, { id: reply.id }, chat.user.token);
    expect(again.data.cancelReply).toMatchObject({ status: 'CANCELLED', content: result.content });
    await client.dispose();
  });

  it('cancelReply on a reply still waiting for its first token ends it CANCELLED and empty, and aborts the provider request', async () => {
    const chat = await startChat(t, { name: 'Impatient' });
    llm.script({ headersDelayMs: 10_000 });
    const client = wsClient(t.gatewayUrl, chat.user.token);
    const sub = collect<any>(client, EVENTS, { id: chat.conversationId }, 'conversationEvents');
    await subscribed(chat.conversationId, 1);
    const requestsBefore = llm.requests.length;
    const { reply } = await sendOk(t, chat.user.token, chat.conversationId, 'Quick question.');
    await waitUntil(() => llm.requests.length > requestsBefore, 5_000, 'the provider request');
    const startedAt = Date.now();
    const cancelled = await t.gql(CANCEL, { id: reply.id }, chat.user.token);
    expect(Date.now() - startedAt).toBeLessThan(1_000);
    expect(cancelled.data.cancelReply).toMatchObject({ id: reply.id, status: 'CANCELLED', content: '' });
    await sub.until(endedReply(reply.id));
    await sleep(200);
    expect(replyEvents(sub.events, reply.id).terminals).toMatchObject([{ kind: 'REPLY_CANCELLED', message: { status: 'CANCELLED', content: '' } }]);
    expect(replyEvents(sub.events, reply.id).deltas).toEqual([]);
    await waitUntil(() => llm.requests[requestsBefore].clientDisconnected, 3_000, 'the provider request to be aborted');
    expect(llm.requests.length).toBe(requestsBefore + 1);
    await client.dispose();
  });

  it('regenerateReply makes a new alternative of a reply on the active path; replies off it, user messages and the greeting are refused', async () => {
    const chat = await startChat(t, { name: 'Regenerator' });
    const token = chat.user.token;
    const first = await sendOk(t, token, chat.conversationId, 'What do you deduce?');
    const old = await waitForEnd(t, token, first.reply.id);
    expect(old.status).toBe('COMPLETED');
    const before = await conversation(t, token, chat.conversationId);
    expect(before.messageCount).toBe(3);
    const greetingId = before.messages[0].id;

    llm.script({ tokens: ['A', ' second', ' thought.'] });
    const requestsBefore = llm.requests.length;
    const regenerated = await t.gql(REGENERATE, { id: old.id }, token);
    expect(regenerated.errors).toBeUndefined();
    const fresh = regenerated.data.regenerateReply;
    expect(fresh.id).not.toBe(old.id);
    expect(fresh.role).toBe('ASSISTANT');
    expect(['PENDING', 'STREAMING']).toContain(fresh.status);
    const done = await waitForEnd(t, token, fresh.id);
    expect(done).toMatchObject({ status: 'COMPLETED', content: 'A second thought.' });
    // Generated from the same history: it answers the user's message, and the replaced reply is not in the prompt.
    const prompt = llm.requests[requestsBefore].body;
    expect(prompt.messages.at(-1)).toEqual({ role: 'user', content: 'What do you deduce?' });
    expect(prompt.messages.some((m: any) => m.content === old.content)).toBe(false);

    const after = await conversation(t, token, chat.conversationId);
    expect(after.messageCount).toBe(3);
    expect(after.messages.map((m) => m.id)).toEqual([greetingId, first.message.id, fresh.id]);

    // A reply off the active path (the one regenerated) cannot be regenerated: it must be selected first.
    expect(codeOf(await t.gql(REGENERATE, { id: old.id }, token))).toBe('CONFLICT');
    const second = await sendOk(t, token, chat.conversationId, 'And now?');
    await waitForEnd(t, token, second.reply.id);
    // Any reply on it can: the path then ends at the new alternative (test/chat/tree.test.ts goes on from there).
    const middle = await t.gql(REGENERATE, { id: fresh.id }, token);
    await waitForEnd(t, token, middle.data.regenerateReply.id);
    expect((await conversation(t, token, chat.conversationId)).messages.map((m) => m.id)).toEqual([greetingId, first.message.id, middle.data.regenerateReply.id]);
    await t.gql(`mutation($id: ID!) { selectAlternative(messageId: $id) { id } }`, { id: fresh.id }, token);
    // Only replies can be regenerated.
    expect(codeOf(await t.gql(REGENERATE, { id: second.message.id }, token))).toBe('BAD_USER_INPUT');
    expect(codeOf(await t.gql(REGENERATE, { id: greetingId }, token))).toBe('BAD_USER_INPUT');
    const end = await conversation(t, token, chat.conversationId);
    expect(end.messageCount).toBe(5);
    expect(end.messages.at(-1).id).toBe(second.reply.id);
  });

  it('the same clientMessageId sent twice (one after the other, or at once) creates one message and one reply', async () => {
    const chat = await startChat(t, { name: 'Repeater' });
    const token = chat.user.token;
    const requestsBefore = llm.requests.length;
    const once = await sendOk(t, token, chat.conversationId, 'Only once, please.', 'client-1');
    const twice = await sendOk(t, token, chat.conversationId, 'Only once, please.', 'client-1');
    expect(twice.message.id).toBe(once.message.id);
    expect(twice.reply.id).toBe(once.reply.id);
    await waitForEnd(t, token, once.reply.id);

    const [a, b] = await Promise.all([
      sendOk(t, token, chat.conversationId, 'At the same time.', 'client-2'),
      sendOk(t, token, chat.conversationId, 'At the same time.', 'client-2'),
    ]);
    expect(b.message.id).toBe(a.message.id);
    expect(b.reply.id).toBe(a.reply.id);
    await waitForEnd(t, token, a.reply.id);
    await sleep(300); // a second generation would have reached the provider by now

    expect(llm.requests.length).toBe(requestsBefore + 2);
    const after = await conversation(t, token, chat.conversationId);
    expect(after.messageCount).toBe(1 + 2 + 2);
    expect(after.messages.filter((m) => m.role === 'USER').map((m) => m.content)).toEqual(['Only once, please.', 'At the same time.']);
    // The repeat after completion returns the reply as it is now.
    const repeat = await sendOk(t, token, chat.conversationId, 'Only once, please.', 'client-1');
    expect(repeat.reply).toMatchObject({ id: once.reply.id, status: 'COMPLETED' });
  });

  it('a completed reply costs exactly its tokenUsage.totalTokens credits, reported by the provider', async () => {
    const chat = await startChat(t, { name: 'Payer' });
    const token = chat.user.token;
    const before = await credits(t, token);
    llm.script({ tokens: ['Five', ' pieces', ' of', ' a', ' reply'], promptTokens: 123 });
    const { reply } = await sendOk(t, token, chat.conversationId, 'How much does this cost?');
    const done = await waitForEnd(t, token, reply.id);
    expect(done.status).toBe('COMPLETED');
    // Usage as the provider reported it (the fake: promptTokens as scripted, one completion token a piece).
    expect(done.tokenUsage).toEqual({ promptTokens: 123, completionTokens: 5, totalTokens: 128 });
    await waitUntil(async () => (await credits(t, token)) !== before, 5_000, 'the charge');
    await sleep(300); // a second charge would have landed by now
    expect(before - (await credits(t, token))).toBe(done.tokenUsage.totalTokens);
  });

  it('content: at most 50,000 characters, not blank; control characters are removed, newline and tab kept', async () => {
    const chat = await startChat(t, { name: 'Writer' });
    const token = chat.user.token;
    const tooLong = await send(t, token, chat.conversationId, 'x'.repeat(50_001));
    expect(codeOf(tooLong)).toBe('BAD_USER_INPUT');
    expect(tooLong.errors![0].message).toMatch(/content/);
    for (const blank of ['', '   ', ' \n\t ']) {
      const res = await send(t, token, chat.conversationId, blank);
      expect(codeOf(res)).toBe('BAD_USER_INPUT');
      expect(res.errors![0].message).toMatch(/content/);
    }
    // Only control characters: nothing is left once they are removed.
    expect(codeOf(await send(t, token, chat.conversationId, '\u0000\u0007'))).toBe('BAD_USER_INPUT');
    expect((await conversation(t, token, chat.conversationId)).messageCount).toBe(1);

    // Words, not one 50,000-character run: the tokenizer takes seconds on long runs without whitespace (see the report).
    const longest = 'abcd efgh '.repeat(5_000);
    const accepted = await sendOk(t, token, chat.conversationId, longest);
    expect(accepted.message.content).toHaveLength(50_000);
    await waitForEnd(t, token, accepted.reply.id);

    const cleaned = await sendOk(t, token, chat.conversationId, 'line one\u0000\u0007\nline\ttwo\u001b\u007f!');
    expect(cleaned.message.content).toBe('line one\nline\ttwo!');
    await waitForEnd(t, token, cleaned.reply.id);
    const stored = await conversation(t, token, chat.conversationId);
    expect(stored.messages.filter((m) => m.role === 'USER').map((m) => m.content)).toEqual([longest, 'line one\nline\ttwo!']);
    // The provider got the cleaned text too.
    expect(llm.requests.at(-1)!.body.messages.at(-1)).toEqual({ role: 'user', content: 'line one\nline\ttwo!' });
  });

  it("other users cannot send to, subscribe to, cancel or regenerate in my conversation; an archived one refuses messages", async () => {
    const mine = await startChat(t, { name: 'Owner' });
    const other = await t.signUp('Intruder');
    const token = mine.user.token;

    const intruding = await send(t, other.token, mine.conversationId, 'Let me in.');
    expect(codeOf(intruding)).toBe('NOT_FOUND');

    const spyClient = wsClient(t.gatewayUrl, other.token);
    const spy = collect<any>(spyClient, EVENTS, { id: mine.conversationId }, 'conversationEvents');
    await within(spy.done, 5_000, "the intruder's subscription to end");
    expect(spy.errors.length).toBeGreaterThan(0);
    expect(JSON.stringify(spy.errors)).toMatch(/NOT_FOUND|not found/i);

    const ownerClient = wsClient(t.gatewayUrl, token);
    const owner = collect<any>(ownerClient, EVENTS, { id: mine.conversationId }, 'conversationEvents');
    await subscribed(mine.conversationId, 1);
    const { reply } = await sendOk(t, token, mine.conversationId, 'Just between us.');
    await owner.until(endedReply(reply.id));
    await sleep(200);
    expect(spy.events).toEqual([]);
    expect(listeners.count(mine.conversationId)).toBe(1); // the owner's subscription only

    expect(codeOf(await t.gql(CANCEL, { id: reply.id }, other.token))).toBe('NOT_FOUND');
    expect(codeOf(await t.gql(REGENERATE, { id: reply.id }, other.token))).toBe('NOT_FOUND');
    expect((await t.gql(MESSAGE, { id: reply.id }, other.token)).data.message).toBeNull();
    expect((await conversation(t, token, mine.conversationId)).messageCount).toBe(3);

    const archived = await t.gql(`mutation($id: ID!) { archiveConversation(id: $id) { status } }`, { id: mine.conversationId }, token);
    expect(archived.data.archiveConversation.status).toBe('ARCHIVED');
    const refused = await send(t, token, mine.conversationId, 'Anyone there?');
    expect(codeOf(refused)).toBe('CONFLICT');
    expect(codeOf(await t.gql(REGENERATE, { id: reply.id }, token))).toBe('CONFLICT');
    expect((await conversation(t, token, mine.conversationId)).messageCount).toBe(3);
    await Promise.all([spyClient.dispose(), ownerClient.dispose()]);
  });

  it('promptPreview shows the owner the prompt part by part, and drops the oldest history to fit a small window', async () => {
    const chat = await startChat(t, { name: 'Previewer', character: { name: 'Mycroft', personality: 'Languid genius of the Diogenes Club' } });
    const token = chat.user.token;
    const first = await sendOk(t, token, chat.conversationId, 'Hello, brother.');
    await waitForEnd(t, token, first.reply.id);

    const preview = await t.gql(PREVIEW, { id: chat.conversationId }, token);
    expect(preview.errors).toBeUndefined();
    const p = preview.data.promptPreview;
    expect(p.strategy).toBe('token-buffer');
    expect(p.droppedMessages).toBe(0);
    expect(p.parts[0]).toMatchObject({ kind: 'system', role: 'system' });
    expect(p.parts[0].content).toContain('Mycroft');
    expect(p.parts[0].content).toContain('Languid genius of the Diogenes Club');
    expect(p.parts.slice(1).map((part: any) => [part.kind, part.role, part.content])).toEqual([
      ['history', 'assistant', 'Come in, Watson.'],
      ['history', 'user', 'Hello, brother.'],
      ['history', 'assistant', 'Hello from the fake model.'],
    ]);
    for (const part of p.parts) expect(part.tokens).toBeGreaterThan(0);
    const sum = p.parts.reduce((s: number, part: any) => s + part.tokens, 0);
    expect(p.totalTokens).toBeGreaterThanOrEqual(sum);
    expect(p.totalTokens).toBeLessThanOrEqual(p.budgetTokens);

    expect(codeOf(await t.gql(PREVIEW, { id: chat.conversationId }, (await t.signUp('Nosy')).token))).toBe('NOT_FOUND');

    const updated = await t.gql(
      `mutation($id: ID!) { updateConversation(id: $id, settings: { contextWindowTokens: 600, maxTokens: 100 }) { settings { contextWindowTokens maxTokens } } }`,
      { id: chat.conversationId },
      token,
    );
    expect(updated.data.updateConversation.settings).toEqual({ contextWindowTokens: 600, maxTokens: 100 });
    const paragraph = 'The fog over the Thames was thick that evening, and every lamp along the embankment burned a sickly yellow. ';
    for (let i = 0; i < 3; i += 1) {
      const sent = await sendOk(t, token, chat.conversationId, `${i}: ${paragraph.repeat(6)}`);
      await waitForEnd(t, token, sent.reply.id);
    }
    const small = (await t.gql(PREVIEW, { id: chat.conversationId }, token)).data.promptPreview;
    expect(small.strategy).toBe('token-buffer');
    expect(small.budgetTokens).toBe(500);
    expect(small.droppedMessages).toBeGreaterThan(0);
    expect(small.totalTokens).toBeLessThanOrEqual(500);
    expect(small.parts[0].kind).toBe('system');
    // What is left is the newest history, whole messages, oldest first.
    const history = small.parts.slice(1);
    expect(history.length).toBeGreaterThan(0);
    expect(history.at(-1).content).toBe('Hello from the fake model.');
    expect(history.some((part: any) => part.content === 'Come in, Watson.')).toBe(false);
    const count = (await conversation(t, token, chat.conversationId)).messageCount;
    expect(small.droppedMessages + history.length).toBe(count);
  });

  it('promptPreview still works for an archived conversation (as chat.ts promptPreview intends)', async () => {
    const chat = await startChat(t, { name: 'Archivist' });
    await t.gql(`mutation($id: ID!) { archiveConversation(id: $id) { status } }`, { id: chat.conversationId }, chat.user.token);
    const preview = await t.gql(PREVIEW, { id: chat.conversationId }, chat.user.token);
    expect(preview.errors).toBeUndefined();
    expect(preview.data.promptPreview.parts.map((p: any) => p.kind)).toEqual(['system', 'history']);
  });

  it('a client leaving mid-reply does not stop the reply: it is stored whole, and its subscription is gone upstream', async () => {
    const chat = await startChat(t, { name: 'Leaver' });
    const tokens = Array.from({ length: 10 }, (_, i) => `p${i} `);
    llm.script({ tokens, tokenDelayMs: 80 });
    const client = wsClient(t.gatewayUrl, chat.user.token);
    const sub = collect<any>(client, EVENTS, { id: chat.conversationId }, 'conversationEvents');
    await subscribed(chat.conversationId, 1);
    const requestsBefore = llm.requests.length;
    const { reply } = await sendOk(t, chat.user.token, chat.conversationId, 'Keep talking.');
    await sub.until((es) => replyEvents(es, reply.id).deltas.length >= 2);
    expect(listeners.count(chat.conversationId)).toBe(1);
    client.terminate(); // abrupt: no complete, no close handshake
    await waitUntil(() => listeners.count(chat.conversationId) === 0, 5_000, 'the upstream subscription to end');
    const stored = await waitForEnd(t, chat.user.token, reply.id);
    expect(stored).toMatchObject({ status: 'COMPLETED', content: tokens.join('') });
    expect(llm.requests[requestsBefore]).toMatchObject({ finished: true, clientDisconnected: false });
  });

  describe('graphql-transport-ws through our gateway', () => {
    const init = (token: string) => ({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } });
    let chat: Awaited<ReturnType<typeof startChat>>;
    beforeAll(async () => {
      chat = await startChat(t, { name: 'Protocol' });
    });

    it('closes a socket that never sends connection_init with 4408', async () => {
      const socket = rawSocket(t.gatewayUrl);
      await socket.opened;
      const startedAt = Date.now();
      const closed = await closedWithin(socket, 8_000);
      expect(closed.code).toBe(4408);
      expect(Date.now() - startedAt).toBeGreaterThan(1_000);
    }, 15_000);

    it('closes with 4429 on a second connection_init', async () => {
      const socket = rawSocket(t.gatewayUrl);
      await socket.opened;
      socket.send(init(chat.user.token));
      await socket.next('connection_ack');
      socket.send(init(chat.user.token));
      expect((await closedWithin(socket, 3_000)).code).toBe(4429);
    });

    it('closes with 4403 on a bad or missing token', async () => {
      for (const payload of [{ authorization: 'Bearer not-a-token' }, { authorization: `Bearer ${chat.user.token}x` }, {}]) {
        const socket = rawSocket(t.gatewayUrl);
        await socket.opened;
        socket.send({ type: 'connection_init', payload });
        expect((await closedWithin(socket, 3_000)).code).toBe(4403);
        expect(socket.messages.some((m) => m.type === 'connection_ack')).toBe(false);
      }
    });

    it('closes with 4409 on a duplicate subscription id, and the upstream socket with it', async () => {
      const { conversationId } = await startChat(t, { user: chat.user });
      const mark = upstream.mark();
      const socket = rawSocket(t.gatewayUrl);
      await socket.opened;
      socket.send(init(chat.user.token));
      await socket.next('connection_ack');
      const subscribe = { id: 'same', type: 'subscribe', payload: { query: EVENTS, variables: { id: conversationId } } };
      socket.send(subscribe);
      await subscribed(conversationId, 1);
      socket.send(subscribe);
      expect((await closedWithin(socket, 3_000)).code).toBe(4409);
      expect(upstream.openedSince(mark)).toBe(1);
      await waitUntil(() => upstream.openSince(mark) === 0, 5_000, 'the upstream socket to close');
    });

    it('closing the client (gracefully or abruptly) closes its upstream socket', async () => {
      for (const how of ['dispose', 'terminate'] as const) {
        const { conversationId } = await startChat(t, { user: chat.user });
        const mark = upstream.mark();
        const client = wsClient(t.gatewayUrl, chat.user.token);
        const sub = collect<any>(client, EVENTS, { id: conversationId }, 'conversationEvents');
        await subscribed(conversationId, 1);
        expect(upstream.openedSince(mark)).toBe(1);
        expect(upstream.openSince(mark)).toBe(1);
        if (how === 'dispose') await client.dispose();
        else client.terminate();
        await waitUntil(() => upstream.openSince(mark) === 0, 5_000, `the upstream socket to close after ${how}`);
        expect(sub.events).toEqual([]);
      }
    });

    it('closing the client ends its subscription in the messages subgraph even while the conversation is quiet', async () => {
      const { conversationId } = await startChat(t, { user: chat.user });
      const client = wsClient(t.gatewayUrl, chat.user.token);
      collect<any>(client, EVENTS, { id: conversationId }, 'conversationEvents');
      await subscribed(conversationId, 1);
      await client.dispose();
      try {
        // Nothing happens in the conversation: the subgraph must still let go of the event bus listener.
        await waitUntil(() => listeners.count(conversationId) === 0, 3_000, 'the messages subgraph to drop the bus listener of a closed subscription');
      } finally {
        // Any event releases a leaked listener; leave the system clean for the other tests.
        const { reply } = await sendOk(t, chat.user.token, conversationId, 'Anyone listening?');
        await waitForEnd(t, chat.user.token, reply.id);
      }
      expect(listeners.count(conversationId)).toBe(0);
    });

    it('a new subscriber after all that still gets the whole reply', async () => {
      const client = wsClient(t.gatewayUrl, chat.user.token);
      const sub = collect<any>(client, EVENTS, { id: chat.conversationId }, 'conversationEvents');
      await subscribed(chat.conversationId, 1);
      const { reply } = await sendOk(t, chat.user.token, chat.conversationId, 'Still there?');
      await sub.until(endedReply(reply.id));
      expect(replyEvents(sub.events, reply.id).text).toBe('Hello from the fake model.');
      expect(replyEvents(sub.events, reply.id).terminals).toHaveLength(1);
      await client.dispose();
    });
  });

  /**
   * A failing provider. These tests run last and in order: they share the provider's circuit breaker
   * (2 consecutive failed attempts open it for BREAKER_RESET_MS), and leave it open.
   */
  describe('provider failures (LLM_MAX_RETRIES=1, LLM_BREAKER_FAILURES=2)', () => {
    let chat: Chat;
    let client: Client;
    let sub: Collector<any>;
    let breakerOpenedAt = 0;
    beforeAll(async () => {
      chat = await startChat(t, { name: 'Unlucky' });
      client = wsClient(t.gatewayUrl, chat.user.token);
      sub = collect<any>(client, EVENTS, { id: chat.conversationId }, 'conversationEvents');
      await subscribed(chat.conversationId, 1);
    });
    afterAll(async () => {
      await client?.dispose();
    });

    it('a provider failing more often than retried fails the reply readably and keeps the user message', async () => {
      llm.script({ failTimes: 1, failStatus: 500 }, { failTimes: 1, failStatus: 500 });
      const requestsBefore = llm.requests.length;
      const { message, reply } = await sendOk(t, chat.user.token, chat.conversationId, 'Are you there?');
      await sub.until(endedReply(reply.id));
      breakerOpenedAt = Date.now();
      const stored = await waitForEnd(t, chat.user.token, reply.id);
      expect(stored.status).toBe('FAILED');
      expect(stored.error).toMatch(/could not reply/i);
      expect(stored.error).toMatch(/500/);
      expect(stored.content).toBe('');
      expect(llm.requests.length - requestsBefore).toBe(2); // the attempt and one retry

      const seen = replyEvents(sub.events, reply.id);
      expect(seen.deltas).toEqual([]);
      expect(seen.terminals).toHaveLength(1);
      expect(seen.terminals[0]).toMatchObject({ kind: 'REPLY_FAILED', error: stored.error, message: { id: reply.id, status: 'FAILED', error: stored.error } });
      expect(sub.events.filter((e) => e.kind === 'MESSAGE_CREATED').map((e) => e.messageId)).toEqual([message.id, reply.id]);

      const after = await conversation(t, chat.user.token, chat.conversationId);
      expect(after.messageCount).toBe(3);
      expect(after.messages[1]).toMatchObject({ id: message.id, role: 'USER', status: 'COMPLETED', content: 'Are you there?' });
      expect(after.messages[2]).toMatchObject({ id: reply.id, status: 'FAILED' });
    });

    it('with the breaker open after those failures, the next reply fails fast without reaching the provider', async () => {
      expect(Date.now() - breakerOpenedAt).toBeLessThan(BREAKER_RESET_MS - 500); // still within the cool-down
      const requestsBefore = llm.requests.length;
      const startedAt = Date.now();
      const { reply } = await sendOk(t, chat.user.token, chat.conversationId, 'Hello again?');
      const stored = await waitForEnd(t, chat.user.token, reply.id);
      expect(stored.status).toBe('FAILED');
      expect(stored.error).toMatch(/circuit breaker|temporarily unavailable/i);
      expect(Date.now() - startedAt).toBeLessThan(BREAKER_RESET_MS);
      expect(llm.requests.length).toBe(requestsBefore);
      await sub.until(endedReply(reply.id));
      expect(replyEvents(sub.events, reply.id).terminals).toMatchObject([{ kind: 'REPLY_FAILED', error: stored.error }]);
    });

    it('after the cool-down the provider is tried again and a reply completes', async () => {
      await sleep(Math.max(0, breakerOpenedAt + BREAKER_RESET_MS + 100 - Date.now()));
      const requestsBefore = llm.requests.length;
      const { reply } = await sendOk(t, chat.user.token, chat.conversationId, 'Better now?');
      const stored = await waitForEnd(t, chat.user.token, reply.id);
      expect(stored).toMatchObject({ status: 'COMPLETED', content: 'Hello from the fake model.', error: null });
      expect(llm.requests.length).toBe(requestsBefore + 1);
    });

    it('a provider silent past LLM_FIRST_TOKEN_TIMEOUT_MS fails the reply with a timeout, and its requests are aborted', async () => {
      const silent = { firstTokenDelayMs: FIRST_TOKEN_TIMEOUT_MS * 10 };
      llm.script(silent, silent);
      const requestsBefore = llm.requests.length;
      const startedAt = Date.now();
      const { reply } = await sendOk(t, chat.user.token, chat.conversationId, 'Take your time.');
      const stored = await waitForEnd(t, chat.user.token, reply.id, 20_000);
      expect(stored.status).toBe('FAILED');
      expect(stored.error).toMatch(/timed out|timeout/i);
      expect(Date.now() - startedAt).toBeGreaterThanOrEqual(2 * FIRST_TOKEN_TIMEOUT_MS);
      expect(Date.now() - startedAt).toBeLessThan(FIRST_TOKEN_TIMEOUT_MS * 10);
      const attempts = llm.requests.slice(requestsBefore);
      expect(attempts).toHaveLength(2);
      await waitUntil(() => attempts.every((r) => r.clientDisconnected), 3_000, 'the timed-out requests to be aborted');
      await sub.until(endedReply(reply.id));
      expect(replyEvents(sub.events, reply.id).terminals).toMatchObject([{ kind: 'REPLY_FAILED', error: stored.error }]);
      expect((await conversation(t, chat.user.token, chat.conversationId)).messages.at(-2)).toMatchObject({ role: 'USER', status: 'COMPLETED', content: 'Take your time.' });
    });
  });
});
