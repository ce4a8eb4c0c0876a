/**
 * The conversation as a tree, through the gateway with real graphql-ws clients, against a fake
 * OpenAI-compatible server: swipes (regenerate, select), edits, continued replies (late joiners
 * included), forks, soft deletion, the CONFLICT rules under concurrency, other users, and the
 * prompt built from the active path only.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startFakeLlm, type FakeLlmServer } from '../support/fake-llm';
import { startTestSystem, type TestSystem } from '../support/system';
import { collect, wsClient } from '../support/ws';
import { codeOf, credits, EVENTS, endedReply, messagesBus, replyEvents, send, sendOk, sleep, START_TIMEOUT_MS, startChat, waitForEnd, waitUntil, watchListeners, type Chat } from './helpers';

const NODE = 'id role status content active alternativeIndex deletedAt parent { id } alternatives { id } tokenUsage { promptTokens completionTokens totalTokens }';
const REGENERATE = /* GraphQL */ `mutation($id: ID!) { regenerateReply(messageId: $id) { ${NODE} } }`;
const EDIT = /* GraphQL */ `mutation($id: ID!, $c: String!) { editMessage(messageId: $id, content: $c) { message { ${NODE} } reply { ${NODE} } } }`;
const CONTINUE = /* GraphQL */ `mutation($id: ID!) { continueReply(messageId: $id) { ${NODE} } }`;
const SELECT = /* GraphQL */ `mutation($id: ID!) { selectAlternative(messageId: $id) { id messageCount messages(first: 100) { edges { node { id content } } } } }`;
const FORK = /* GraphQL */ `
  mutation($id: ID!, $title: String) { forkConversation(messageId: $id, title: $title) { id title character { name } messages(first: 100) { edges { node { ${NODE} } } } } }`;
const DELETE = /* GraphQL */ `mutation($id: ID!) { deleteMessage(messageId: $id) { ${NODE} } }`;
const RESTORE = /* GraphQL */ `mutation($id: ID!) { restoreMessage(messageId: $id) { ${NODE} } }`;
const CANCEL = /* GraphQL */ `mutation($id: ID!) { cancelReply(messageId: $id) { id status } }`;
const MESSAGE = /* GraphQL */ `query($id: ID!) { message(id: $id) { ${NODE} } }`;
const PATH = /* GraphQL */ `query($id: ID!) { conversation(id: $id) { messageCount lastMessage { id } messages(first: 100) { edges { node { ${NODE} } } } } }`;
const TREE = /* GraphQL */ `
  query($id: ID!, $deleted: Boolean) { conversation(id: $id) { messageTree(first: 100, includeDeleted: $deleted) { edges { node { ${NODE} } } } } }`;
/** The users subgraph's default: every test user starts with it. */
const INITIAL_CREDITS = 100_000;
const PREVIEW = /* GraphQL */ `query($id: ID!) { promptPreview(conversationId: $id) { parts { kind content } } }`;

describe('the conversation as a tree (through the gateway)', () => {
  let t: TestSystem;
  let llm: FakeLlmServer;
  let listeners: ReturnType<typeof watchListeners>;

  beforeAll(async () => {
    llm = await startFakeLlm({ tokens: ['A', ' reply.'], tokenDelayMs: 2, promptTokens: 30 });
    t = await startTestSystem('pglite', { LLM_PROVIDER: 'openai', LLM_BASE_URL: llm.baseUrl, LLM_MODEL: 'test-model', REPLY_FLUSH_INTERVAL_MS: '10', RATE_LIMIT_MESSAGES_PER_MINUTE: '1000' });
    listeners = watchListeners(messagesBus(t));
  }, START_TIMEOUT_MS);
  afterAll(async () => {
    await t?.stop();
    await llm?.close();
  }, START_TIMEOUT_MS);

  /** The mutation's data (its one root field), or a failure naming its errors. */
  async function ok(query: string, variables: Record<string, unknown>, token: string): Promise<any> {
    const res = await t.gql(query, variables, token);
    if (res.errors || !res.data) throw new Error(`${query.slice(0, 60)}: ${JSON.stringify(res.errors)}`);
    return Object.values(res.data)[0];
  }
  /** The active path, oldest first. */
  const path = async (chat: Chat): Promise<any[]> => (await ok(PATH, { id: chat.conversationId }, chat.user.token)).messages.edges.map((e: any) => e.node);
  const contents = async (chat: Chat) => (await path(chat)).map((m) => m.content);
  /** Sends a message, waits for its reply to end, returns both. */
  async function exchange(chat: Chat, content: string, tokens?: string[]) {
    if (tokens) llm.script({ tokens });
    const sent = await sendOk(t, chat.user.token, chat.conversationId, content);
    return { message: sent.message, reply: await waitForEnd(t, chat.user.token, sent.reply.id) };
  }
  /** The messages of the provider request that generated the last reply. */
  const lastPrompt = () => llm.requests.at(-1)!.body.messages as Array<{ role: string; content: string }>;
  const subscribed = (conversationId: string, n: number) => waitUntil(() => listeners.count(conversationId) === n, 5_000, `${n} subscriber(s) upstream`);

  it('regenerates three times, swipes back to the first reply and goes on from it', async () => {
    const chat = await startChat(t, { name: 'Swiper' });
    const token = chat.user.token;
    const client = wsClient(t.gatewayUrl, token);
    const events = collect<any>(client, EVENTS, { id: chat.conversationId }, 'conversationEvents');
    await subscribed(chat.conversationId, 1);
    const { message, reply: first } = await exchange(chat, 'Tell me a secret.', ['The', ' first.']);
    const replies = [first];
    for (const text of ['second', 'third', 'fourth']) {
      llm.script({ tokens: ['The ', text, '.'] });
      const fresh = await ok(REGENERATE, { id: replies.at(-1).id }, token);
      expect(fresh.parent.id).toBe(message.id);
      replies.push(await waitForEnd(t, token, fresh.id));
      // Generated from the history above it: it answers the user's message, and no other alternative is in the prompt.
      expect(lastPrompt().at(-1)).toEqual({ role: 'user', content: 'Tell me a secret.' });
      expect(lastPrompt().some((m) => m.content === replies.at(-2).content)).toBe(false);
    }
    expect(replies.map((r) => r.content)).toEqual(['The first.', 'The second.', 'The third.', 'The fourth.']);
    const newest = await ok(MESSAGE, { id: replies[3].id }, token);
    expect(newest).toMatchObject({ active: true, alternativeIndex: 3, alternatives: replies.map((r) => ({ id: r.id })) });
    expect((await ok(MESSAGE, { id: replies[0].id }, token)).active).toBe(false);
    await events.until((es) => es.some((e) => e.kind === 'ACTIVE_PATH_CHANGED' && e.messageId === replies[3].id));

    // Swipe back to the first reply: it ends the active path again, and subscribers hear of it.
    const selected = await ok(SELECT, { id: replies[0].id }, token);
    expect(selected.messages.edges.map((e: any) => e.node.content)).toEqual(['Come in, Watson.', 'Tell me a secret.', 'The first.']);
    expect(selected.messageCount).toBe(3);
    const changed = await events.until((es) => es.some((e) => e.kind === 'ACTIVE_PATH_CHANGED' && e.messageId === replies[0].id));
    expect(changed.find((e) => e.kind === 'ACTIVE_PATH_CHANGED' && e.messageId === replies[0].id).message).toMatchObject({ id: replies[0].id, content: 'The first.' });
    expect((await ok(MESSAGE, { id: replies[0].id }, token)).active).toBe(true);
    expect((await ok(MESSAGE, { id: replies[3].id }, token)).active).toBe(false);

    // The conversation goes on from the first reply: the next prompt holds it, not the third (or the fourth).
    const next = await exchange(chat, 'Go on.', ['Gladly.']);
    expect(next.message.parent?.id ?? (await ok(MESSAGE, { id: next.message.id }, token)).parent.id).toBe(replies[0].id);
    const prompt = lastPrompt();
    expect(prompt.some((m) => m.content === 'The first.')).toBe(true);
    expect(prompt.some((m) => ['The second.', 'The third.', 'The fourth.'].includes(m.content))).toBe(false);
    expect(await contents(chat)).toEqual(['Come in, Watson.', 'Tell me a secret.', 'The first.', 'Go on.', 'Gladly.']);
    // promptPreview shows the same path.
    const preview = (await ok(PREVIEW, { id: chat.conversationId }, token)).parts.map((p: any) => p.content);
    expect(preview.slice(1)).toEqual(['Come in, Watson.', 'Tell me a secret.', 'The first.', 'Go on.', 'Gladly.']);
    await client.dispose();
  });

  it('edits a user message mid-conversation; selecting the old one again finds its replies intact', async () => {
    const chat = await startChat(t, { name: 'Editor' });
    const token = chat.user.token;
    const one = await exchange(chat, 'One?', ['Reply one.']);
    const two = await exchange(chat, 'Two?', ['Reply two.']);
    const three = await exchange(chat, 'Three?', ['Reply three.']);
    const before = await path(chat);

    llm.script({ tokens: ['Reply to the edit.'] });
    const edited = await ok(EDIT, { id: two.message.id, c: 'Two, rephrased?' }, token);
    expect(edited.message).toMatchObject({ role: 'USER', content: 'Two, rephrased?', status: 'COMPLETED', active: true, parent: { id: one.reply.id } });
    expect(edited.message.alternatives).toEqual([{ id: two.message.id }, { id: edited.message.id }]);
    expect(['PENDING', 'STREAMING']).toContain(edited.reply.status);
    const reply = await waitForEnd(t, token, edited.reply.id);
    expect(reply.content).toBe('Reply to the edit.');
    expect(lastPrompt().at(-1)).toEqual({ role: 'user', content: 'Two, rephrased?' });
    expect(lastPrompt().some((m) => m.content === 'Two?' || m.content === 'Reply three.')).toBe(false);
    expect(await contents(chat)).toEqual(['Come in, Watson.', 'One?', 'Reply one.', 'Two, rephrased?', 'Reply to the edit.']);
    // The message edited never changed.
    expect((await ok(MESSAGE, { id: two.message.id }, token)).content).toBe('Two?');

    // Back to the old branch: everything below it as it was.
    await ok(SELECT, { id: two.message.id }, token);
    expect((await path(chat)).map((m) => m.id)).toEqual(before.map((m) => m.id));

    // A reply's edit is stored as written, COMPLETED, with nothing generated.
    const requests = llm.requests.length;
    const fixed = await ok(EDIT, { id: three.reply.id, c: 'Reply three, as I would have it.' }, token);
    expect(fixed.reply).toBeNull();
    expect(fixed.message).toMatchObject({ role: 'ASSISTANT', status: 'COMPLETED', content: 'Reply three, as I would have it.', active: true, alternativeIndex: 1 });
    await sleep(200);
    expect(llm.requests.length).toBe(requests);
    expect((await contents(chat)).at(-1)).toBe('Reply three, as I would have it.');
    expect(codeOf(await t.gql(EDIT, { id: three.reply.id, c: '   ' }, token))).toBe('BAD_USER_INPUT');
  });

  it('continues the last reply in the same message: MESSAGE_UPDATED, then only the new text; a late subscriber gets the whole text so far', async () => {
    const chat = await startChat(t, { name: 'Continuer' });
    const token = chat.user.token;
    const { reply } = await exchange(chat, 'Tell me a story.', ['Once', ' upon', ' a', ' time.']);
    const early = wsClient(t.gatewayUrl, token);
    const first = collect<any>(early, EVENTS, { id: chat.conversationId }, 'conversationEvents');
    await subscribed(chat.conversationId, 1);
    // The first reply has been charged its 34 tokens (30 of prompt, 4 of completion).
    const balance = INITIAL_CREDITS - 34;
    await waitUntil(async () => (await credits(t, token)) === balance, 10_000, 'the first reply to be charged');

    const more = Array.from({ length: 10 }, (_, i) => ` w${i}`);
    llm.script({ tokens: more, tokenDelayMs: 100, promptTokens: 50 });
    const continued = await ok(CONTINUE, { id: reply.id }, token);
    expect(continued).toMatchObject({ id: reply.id, status: 'STREAMING', content: 'Once upon a time.' });
    await first.until((es) => replyEvents(es, reply.id).deltas.length >= 2);
    const late = wsClient(t.gatewayUrl, token);
    const second = collect<any>(late, EVENTS, { id: chat.conversationId }, 'conversationEvents');
    await Promise.all([first.until(endedReply(reply.id)), second.until(endedReply(reply.id))]);
    const stored = await waitForEnd(t, token, reply.id);
    expect(stored).toMatchObject({ status: 'COMPLETED', content: `Once upon a time.${more.join('')}` });

    // The early subscriber: MESSAGE_UPDATED (STREAMING, the text so far), then the new text only, numbered from 0.
    const mine = first.events.filter((e) => e.messageId === reply.id);
    expect(mine[0]).toMatchObject({ kind: 'MESSAGE_UPDATED', message: { status: 'STREAMING', content: 'Once upon a time.' } });
    const a = replyEvents(first.events, reply.id);
    expect(a.sequences).toEqual(more.map((_, i) => i));
    expect(mine[0].message.content + a.text).toBe(stored.content);
    expect(a.terminals).toHaveLength(1);
    // The late one: the whole text so far as its first delta, then the rest.
    const b = replyEvents(second.events, reply.id);
    expect(b.deltas[0].delta.startsWith('Once upon a time. w0 w1')).toBe(true);
    expect(b.text).toBe(stored.content);
    expect(b.terminals).toMatchObject([{ kind: 'REPLY_COMPLETED', message: { content: stored.content } }]);

    // The model went on from the text so far; only the new tokens were charged, and the usage adds up.
    expect(lastPrompt().at(-1)).toEqual({ role: 'assistant', content: 'Once upon a time.' });
    expect(stored.tokenUsage).toEqual({ promptTokens: 30 + 50, completionTokens: 4 + 10, totalTokens: 34 + 60 });
    await waitUntil(async () => (await credits(t, token)) === balance - 60, 10_000, 'the continuation to be charged 60 credits');
    // Not the path's end, not a reply: refused.
    expect(codeOf(await t.gql(CONTINUE, { id: (await path(chat))[1].id }, token))).toBe('BAD_USER_INPUT');
    await Promise.all([early.dispose(), late.dispose()]);
  });

  it('forks at a middle message: a new conversation of the caller with copies of the path down to it', async () => {
    const chat = await startChat(t, { name: 'Forker' });
    const token = chat.user.token;
    const one = await exchange(chat, 'First question.', ['First answer.']);
    await exchange(chat, 'Second question.', ['Second answer.']);
    const fork = await ok(FORK, { id: one.reply.id, title: 'Another way' }, token);
    expect(fork).toMatchObject({ title: 'Another way', character: { name: 'Sherlock' } });
    expect(fork.id).not.toBe(chat.conversationId);
    const copies = fork.messages.edges.map((e: any) => e.node);
    expect(copies.map((m: any) => m.content)).toEqual(['Come in, Watson.', 'First question.', 'First answer.']);
    expect(copies.every((m: any) => m.active && ![chat.conversationId, one.reply.id, one.message.id].includes(m.id))).toBe(true);
    expect(await contents(chat)).toHaveLength(5);
    // It is the caller's, and goes on from the copied path.
    const forked = { ...chat, conversationId: fork.id };
    await exchange(forked, 'Elsewhere now.', ['Indeed.']);
    expect(lastPrompt().map((m) => m.content).slice(1)).toEqual(['Come in, Watson.', 'First question.', 'First answer.', 'Elsewhere now.']);
    const mine = await ok(`{ me { conversations(first: 10) { edges { node { id } } } } }`, {}, token);
    expect(mine.conversations.edges.map((e: any) => e.node.id)).toContain(fork.id);
    // Without a title: the source's, marked as a fork.
    expect((await ok(FORK, { id: one.message.id }, token)).title).toBe('Baker Street (fork)');
  });

  it('deletes a message on the active path with everything below it, and restores them', async () => {
    const chat = await startChat(t, { name: 'Deleter' });
    const token = chat.user.token;
    await exchange(chat, 'Keep this.', ['Kept.']);
    const two = await exchange(chat, 'Drop this.', ['Dropped.']);
    const client = wsClient(t.gatewayUrl, token);
    const events = collect<any>(client, EVENTS, { id: chat.conversationId }, 'conversationEvents');
    await subscribed(chat.conversationId, 1);

    const deleted = await ok(DELETE, { id: two.message.id }, token);
    expect(deleted.deletedAt).toEqual(expect.any(String));
    expect(await contents(chat)).toEqual(['Come in, Watson.', 'Keep this.', 'Kept.']);
    await events.until((es) => es.some((e) => e.kind === 'ACTIVE_PATH_CHANGED' && e.message?.content === 'Kept.'));
    expect((await t.gql(MESSAGE, { id: two.reply.id }, token)).data.message).toBeNull();
    const tree = async (deletedToo: boolean) => (await ok(TREE, { id: chat.conversationId, deleted: deletedToo }, token)).messageTree.edges.map((e: any) => e.node);
    expect((await tree(false)).map((m: any) => m.content)).toEqual(['Come in, Watson.', 'Keep this.', 'Kept.']);
    const all = await tree(true);
    expect(all.filter((m: any) => m.deletedAt).map((m: any) => m.content)).toEqual(['Drop this.', 'Dropped.']);
    // The next reply's prompt has none of it.
    const preview = (await ok(PREVIEW, { id: chat.conversationId }, token)).parts.map((p: any) => p.content);
    expect(preview.some((c: string) => c === 'Drop this.' || c === 'Dropped.')).toBe(false);

    const restored = await ok(RESTORE, { id: two.message.id }, token);
    expect(restored.deletedAt).toBeNull();
    expect(await contents(chat)).toEqual(['Come in, Watson.', 'Keep this.', 'Kept.', 'Drop this.', 'Dropped.']);
    await events.until((es) => es.some((e) => e.kind === 'ACTIVE_PATH_CHANGED' && e.messageId === two.reply.id));

    // With an alternative left, the path moves to it.
    llm.script({ tokens: ['Dropped again.'] });
    const again = await waitForEnd(t, token, (await ok(REGENERATE, { id: two.reply.id }, token)).id);
    await ok(SELECT, { id: two.reply.id }, token);
    await ok(DELETE, { id: two.reply.id }, token);
    expect((await path(chat)).at(-1)).toMatchObject({ id: again.id, alternatives: [{ id: again.id }], alternativeIndex: 0 });
    await client.dispose();
  });

  it('CONFLICT while a reply is being written; of ten concurrent regenerations exactly one is stored', async () => {
    const chat = await startChat(t, { name: 'Racer' });
    const token = chat.user.token;
    const done = await exchange(chat, 'Hello.', ['Hi.']);
    llm.script({ tokens: Array.from({ length: 50 }, (_, i) => ` s${i}`), tokenDelayMs: 50 });
    const slow = await sendOk(t, token, chat.conversationId, 'Take your time.');
    const refused = await Promise.all([
      send(t, token, chat.conversationId, 'Another?'),
      t.gql(REGENERATE, { id: done.reply.id }, token),
      t.gql(EDIT, { id: done.message.id, c: 'Hello again.' }, token),
      t.gql(CONTINUE, { id: slow.reply.id }, token),
    ]);
    expect(refused.map(codeOf)).toEqual(['CONFLICT', 'CONFLICT', 'CONFLICT', 'CONFLICT']);
    // Switching branches and deleting elsewhere stay allowed; deleting the reply being written is not.
    expect(codeOf(await t.gql(DELETE, { id: slow.message.id }, token))).toBe('CONFLICT');
    await ok(CANCEL, { id: slow.reply.id }, token);
    await waitForEnd(t, token, slow.reply.id);

    const requests = llm.requests.length;
    const answers = await Promise.all(Array.from({ length: 10 }, () => t.gql(REGENERATE, { id: slow.reply.id }, token)));
    const winners = answers.filter((a) => a.data?.regenerateReply);
    expect(winners).toHaveLength(1);
    expect(answers.filter((a) => codeOf(a) === 'CONFLICT')).toHaveLength(9);
    await waitForEnd(t, token, winners[0].data.regenerateReply.id);
    expect((await ok(MESSAGE, { id: winners[0].data.regenerateReply.id }, token)).alternatives).toHaveLength(2);
    await sleep(200);
    expect(llm.requests.length).toBe(requests + 1);

    // Five sends at once: one exchange (its reply takes long enough to be open while the others arrive), the path unbroken.
    llm.script({ tokens: Array.from({ length: 5 }, (_, i) => ` a${i}`), tokenDelayMs: 100 });
    const sends = await Promise.all(Array.from({ length: 5 }, (_, i) => send(t, token, chat.conversationId, `At once ${i}.`)));
    expect(sends.filter((s) => s.data?.sendMessage)).toHaveLength(1);
    expect(sends.filter((s) => codeOf(s) === 'CONFLICT')).toHaveLength(4);
    await waitForEnd(t, token, sends.find((s) => s.data?.sendMessage)!.data.sendMessage.reply.id);
    const now = await path(chat);
    expect(now).toHaveLength(7);
    expect(now.every((m, i) => (i === 0 ? m.parent === null : m.parent.id === now[i - 1].id))).toBe(true);
  });

  it("a new conversation's first message has the character's alternate greetings as its alternatives; selecting one changes the opening", async () => {
    const chat = await startChat(t, { name: 'Greeter', character: { alternateGreetings: ['Ah, Watson!', 'Sit down, Watson.'] } });
    const token = chat.user.token;
    const [greeting] = await path(chat);
    const { alternatives } = await ok(`query($id: ID!) { message(id: $id) { alternatives { id content active parent { id } } } }`, { id: greeting.id }, token);
    expect(alternatives.map((m: any) => [m.content, m.active, m.parent])).toEqual([
      ['Come in, Watson.', true, null],
      ['Ah, Watson!', false, null],
      ['Sit down, Watson.', false, null],
    ]);
    await ok(SELECT, { id: alternatives[2].id }, token);
    expect(await contents(chat)).toEqual(['Sit down, Watson.']);
    await exchange(chat, 'Thank you.', ['You are welcome.']);
    expect(lastPrompt().slice(1)).toEqual([
      { role: 'assistant', content: 'Sit down, Watson.' },
      { role: 'user', content: 'Thank you.' },
    ]);
  });

  it('bad input is BAD_USER_INPUT or NOT_FOUND, never a crash, and stores nothing', async () => {
    const chat = await startChat(t, { name: 'Careless' });
    const token = chat.user.token;
    const { message, reply } = await exchange(chat, 'Hi.', ['Hello.']);
    for (const query of [REGENERATE, CONTINUE, SELECT, DELETE, RESTORE, FORK]) expect(codeOf(await t.gql(query, { id: 'not-an-id' }, token))).toBe('NOT_FOUND');
    expect(codeOf(await t.gql(EDIT, { id: message.id, c: '' }, token))).toBe('BAD_USER_INPUT');
    expect(codeOf(await t.gql(EDIT, { id: message.id, c: 'x'.repeat(50_001) }, token))).toBe('BAD_USER_INPUT');
    expect(codeOf(await t.gql(FORK, { id: reply.id, title: 'x'.repeat(201) }, token))).toBe('BAD_USER_INPUT');
    const page = (args: string) => t.gql(`query($id: ID!) { conversation(id: $id) { messageTree(${args}) { edges { node { id } } } } }`, { id: chat.conversationId }, token);
    expect(codeOf(await page('first: 1000'))).toBe('BAD_USER_INPUT');
    expect(codeOf(await page('after: "garbage"'))).toBe('BAD_USER_INPUT');
    expect(await contents(chat)).toEqual(['Come in, Watson.', 'Hi.', 'Hello.']);
    expect((await ok(TREE, { id: chat.conversationId, deleted: true }, token)).messageTree.edges).toHaveLength(3);
    expect((await ok(`{ me { conversations(first: 10) { edges { node { id } } } } }`, {}, token)).conversations.edges).toHaveLength(1);
  });

  it("another user's every tree mutation is NOT_FOUND, and changes nothing", async () => {
    const chat = await startChat(t, { name: 'Owner' });
    const { message, reply } = await exchange(chat, 'Mine.', ['Yours truly.']);
    const other = await t.signUp('Intruder');
    const attempts = [
      t.gql(REGENERATE, { id: reply.id }, other.token),
      t.gql(EDIT, { id: message.id, c: 'Theirs.' }, other.token),
      t.gql(EDIT, { id: reply.id, c: 'Theirs.' }, other.token),
      t.gql(CONTINUE, { id: reply.id }, other.token),
      t.gql(SELECT, { id: message.id }, other.token),
      t.gql(FORK, { id: reply.id }, other.token),
      t.gql(DELETE, { id: message.id }, other.token),
      t.gql(RESTORE, { id: message.id }, other.token),
      t.gql(CANCEL, { id: reply.id }, other.token),
    ];
    expect((await Promise.all(attempts)).map(codeOf)).toEqual(Array(attempts.length).fill('NOT_FOUND'));
    expect((await t.gql(TREE, { id: chat.conversationId, deleted: true }, other.token)).data.conversation).toBeNull();
    expect(await contents(chat)).toEqual(['Come in, Watson.', 'Mine.', 'Yours truly.']);
    expect((await ok(`{ me { conversations(first: 10) { edges { node { id } } } } }`, {}, other.token)).conversations.edges).toEqual([]);
  });
});
