/**
 * searchMessages through the gateway on both engines: ranking and highlights, every filter, the
 * web-search syntax, another user's (and an admin's) messages never found, deleted ones never
 * found, and pages that stay exact while new messages arrive.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { START_TIMEOUT_MS, startChat, type Chat } from '../chat/helpers';
import { startFakeLlm, type FakeLlmServer } from '../support/fake-llm';
import { queriesDuring } from '../support/query-count';
import { ENGINES, startTestSystem, type TestSystem } from '../support/system';
import { codeOf, exchange, ok } from './helpers';

const SEARCH = /* GraphQL */ `
  query($q: String!, $conversationId: ID, $characterId: ID, $role: MessageRole, $from: DateTime, $to: DateTime, $first: Int, $after: String) {
    searchMessages(query: $q, conversationId: $conversationId, characterId: $characterId, role: $role, from: $from, to: $to, first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage hasPreviousPage endCursor }
      edges { cursor highlight node { id role content conversation { id } } }
    }
  }`;

describe.each(ENGINES)('searchMessages (%s)', (engine) => {
  let t: TestSystem;
  let llm: FakeLlmServer;
  let harbour: Chat;
  let beacon: Chat;
  let other: Chat;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    llm = await startFakeLlm({ tokens: ['Fine.'], tokenDelayMs: 1 });
    t = await startTestSystem(engine, { LLM_PROVIDER: 'openai', LLM_BASE_URL: llm.baseUrl, LLM_MODEL: 'test-model', RATE_LIMIT_MESSAGES_PER_MINUTE: '1000' });
    harbour = await startChat(t, { name: 'Searcher' });
    beacon = await startChat(t, { user: harbour.user, character: { name: 'Keeper', greeting: 'Welcome to the rock.' } });
    other = await startChat(t, { name: 'Other' });
    const first = await exchange(t, llm, harbour, 'Where is the lighthouse keeper tonight?', 'The lighthouse stands dark on the cliff.');
    ids.keeperQuestion = first.message.id;
    ids.keeperAnswer = first.reply.id;
    const boats = await exchange(t, llm, harbour, 'Tell me about the boats in the harbour.', 'Three boats, all <b>moored</b> & quiet.');
    ids.boats = boats.reply.id;
    const many = await exchange(t, llm, beacon, 'lighthouse lighthouse lighthouse, the beacon!', 'A beacon indeed.');
    ids.many = many.message.id;
    ids.beaconReply = many.reply.id;
    const secret = await exchange(t, llm, other, 'The lighthouse secret nobody else may read.', 'Hush.');
    ids.secret = secret.message.id;
  }, START_TIMEOUT_MS * 2);
  afterAll(async () => {
    await t?.stop();
    await llm?.close();
  }, START_TIMEOUT_MS);

  const search = (token: string, q: string, extra: Record<string, unknown> = {}) => ok(t, SEARCH, { q, ...extra }, token);
  const found = async (token: string, q: string, extra: Record<string, unknown> = {}) => (await search(token, q, extra)).edges.map((e: any) => e.node.id);

  it('ranks the best match first and marks the matches in the passage', async () => {
    const result = await search(harbour.user.token, 'lighthouse');
    expect(result.edges.map((e: any) => e.node.id)).toEqual([ids.many, expect.any(String), expect.any(String)]);
    expect(new Set(result.edges.map((e: any) => e.node.id))).toEqual(new Set([ids.many, ids.keeperQuestion, ids.keeperAnswer]));
    expect(result.totalCount).toBe(3);
    expect(result.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: false });
    expect(result.edges[0].highlight).toContain('<mark>lighthouse</mark>');
    const question = result.edges.find((e: any) => e.node.id === ids.keeperQuestion);
    expect(question.highlight).toBe('Where is the <mark>lighthouse</mark> keeper tonight?');
  });

  it("escapes a message's own markup before marking matches", async () => {
    const [hit] = (await search(harbour.user.token, 'moored')).edges;
    expect(hit.node.id).toBe(ids.boats);
    expect(hit.highlight).toBe('Three boats, all &lt;b&gt;<mark>moored</mark>&lt;/b&gt; &amp; quiet.');
  });

  it('understands web-search syntax: phrases, OR and exclusions', async () => {
    expect(await found(harbour.user.token, '"lighthouse keeper"')).toEqual([ids.keeperQuestion]);
    expect(new Set(await found(harbour.user.token, 'lighthouse -keeper -beacon'))).toEqual(new Set([ids.keeperAnswer]));
    expect(new Set(await found(harbour.user.token, 'moored or beacon'))).toEqual(new Set([ids.boats, ids.many, ids.beaconReply]));
    // Case folded, punctuation ignored; a query of only punctuation matches nothing rather than failing.
    expect(await found(harbour.user.token, 'BEACON!')).toHaveLength(2);
    expect(await found(harbour.user.token, '!!! ---')).toEqual([]);
  });

  it('filters by conversation, character, role and time', async () => {
    const token = harbour.user.token;
    expect(new Set(await found(token, 'lighthouse', { conversationId: harbour.conversationId }))).toEqual(new Set([ids.keeperQuestion, ids.keeperAnswer]));
    expect(await found(token, 'lighthouse', { characterId: beacon.characterId })).toEqual([ids.many]);
    expect(new Set(await found(token, 'lighthouse', { characterId: harbour.characterId }))).toEqual(new Set([ids.keeperQuestion, ids.keeperAnswer]));
    expect(await found(token, 'lighthouse', { role: 'ASSISTANT' })).toEqual([ids.keeperAnswer]);
    expect(new Set(await found(token, 'lighthouse', { role: 'USER' }))).toEqual(new Set([ids.keeperQuestion, ids.many]));
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const past = new Date(Date.now() - 3_600_000).toISOString();
    expect(await found(token, 'lighthouse', { from: future })).toEqual([]);
    expect(await found(token, 'lighthouse', { to: past })).toEqual([]);
    expect(await found(token, 'lighthouse', { from: past, to: future })).toHaveLength(3);
    // Greetings are messages too (the character's, stored when the conversation started).
    expect(await found(token, 'rock', { conversationId: beacon.conversationId, role: 'ASSISTANT' })).toHaveLength(1);
  });

  it("never finds another user's messages, not even for an admin", async () => {
    expect(await found(harbour.user.token, 'secret')).toEqual([]);
    expect(await found(other.user.token, 'lighthouse')).toEqual([ids.secret]);
    // Filtering by someone else's conversation or character finds nothing either.
    expect(await found(harbour.user.token, 'lighthouse', { conversationId: other.conversationId })).toEqual([]);
    const admin = await t.signUpAdmin();
    expect(await found(admin.token, 'lighthouse')).toEqual([]);
    expect(await found(admin.token, 'secret', { conversationId: other.conversationId })).toEqual([]);
  });

  it('refuses bad arguments with BAD_USER_INPUT and anonymous callers with UNAUTHENTICATED', async () => {
    const token = harbour.user.token;
    for (const variables of [{ q: '   ' }, { q: 'x'.repeat(501) }, { q: 'a', after: 'bm90IGEgY3Vyc29y' }, { q: 'a', from: 'yesterday' }, { q: 'a', conversationId: 'nope' }, { q: 'a', first: 1000 }]) {
      const res = await t.gql(SEARCH, variables, token);
      expect(codeOf(res)).toBe('BAD_USER_INPUT');
    }
    expect(codeOf(await t.gql(SEARCH, { q: 'lighthouse' }))).toBe('UNAUTHENTICATED');
  });

  it("searches each conversation in its language: stems and stop words of english, none by default", async () => {
    const token = harbour.user.token;
    const START = /* GraphQL */ `mutation($c: ID!, $l: String) { startConversation(input: { characterId: $c, settings: { language: $l } }) { id settings { language } } }`;
    const english = await ok(t, START, { c: harbour.characterId, l: 'English' }, token);
    expect(english.settings.language).toBe('english');
    const plain = await ok(t, START, { c: harbour.characterId }, token);
    expect(plain.settings.language).toBe('simple');
    const englishChat = { ...harbour, conversationId: english.id };
    const plainChat = { ...harbour, conversationId: plain.id };
    const stemmed = await exchange(t, llm, englishChat, 'The gulls were circling the wrecks.', 'Fine.');
    const literal = await exchange(t, llm, plainChat, 'The gulls were circling the wrecks.', 'Fine.');
    // English finds "circling" and "wrecks" from "circle wreck"; simple needs the words as written.
    expect(await found(token, 'circle wreck')).toEqual([stemmed.message.id]);
    expect(new Set(await found(token, 'circling wrecks'))).toEqual(new Set([stemmed.message.id, literal.message.id]));
    const highlighted = (await search(token, 'circle', { conversationId: english.id })).edges[0].highlight;
    expect(highlighted).toBe('The gulls were <mark>circling</mark> the wrecks.');

    // Changing the language re-indexes the conversation's messages, and later ones follow it.
    const UPDATE = /* GraphQL */ `mutation($id: ID!, $l: String) { updateConversation(id: $id, settings: { language: $l }) { settings { language } } }`;
    expect((await ok(t, UPDATE, { id: plain.id, l: 'english' }, token)).settings.language).toBe('english');
    expect(new Set(await found(token, 'circle wreck'))).toEqual(new Set([stemmed.message.id, literal.message.id]));
    const later = await exchange(t, llm, plainChat, 'More wrecks ahead.', 'Fine.');
    expect(await found(token, 'wreck', { conversationId: plain.id, role: 'USER' })).toEqual([later.message.id, literal.message.id]);
    const refused = await t.gql(UPDATE, { id: plain.id, l: 'klingon' }, token);
    expect(codeOf(refused)).toBe('BAD_USER_INPUT');
    expect(refused.errors![0].message).toMatch(/settings\.language/);
    expect((await ok(t, `query($id: ID!) { conversation(id: $id) { settings { language } } }`, { id: plain.id }, token)).settings.language).toBe('english');
  });

  it('costs the messages and conversations databases the same queries for a page of 3 as for a page of 12', async () => {
    const lamp = await ok(t, `mutation { createCharacter(input: { name: "Lamplighter", greeting: "The lamps of Baker Street are lit." }) { id } }`, {}, harbour.user.token);
    for (let i = 0; i < 12; i += 1) await ok(t, `mutation($c: ID!) { startConversation(input: { characterId: $c }) { id } }`, { c: lamp.id }, harbour.user.token);
    const PAGE = /* GraphQL */ `
      query($first: Int) { searchMessages(query: "lamps lit", first: $first) { totalCount edges { highlight node { id content author { id } conversation { id title stats { messageCount } } } } } }`;
    // The two subgraphs the page reads (the others' background work, such as expired holds, would only add noise),
    // the fewest of three reads: background work (the settlement drain, the job queue) may add a query to one of them.
    const fewest = (first: number) =>
      queriesDuring(t, async () => {
        const page = await ok(t, PAGE, { first }, harbour.user.token);
        expect(page.edges).toHaveLength(first);
        for (const edge of page.edges) expect(edge.node.conversation).toMatchObject({ title: 'Chat with Lamplighter', stats: { messageCount: 1 } });
      }, { readings: 3, subgraphs: ['messages', 'conversations'] });
    expect(await fewest(12)).toEqual(await fewest(3));
  });

  it('pages exactly once through every match while new matching messages arrive, and never finds deleted ones', async () => {
    const chat = await startChat(t, { user: harbour.user, character: { name: 'Tidewatcher', greeting: 'Hello.' } });
    for (let i = 0; i < 3; i += 1) await exchange(t, llm, chat, `The tide rises, number ${i}.`, `A tide answer ${i}.`);
    const token = harbour.user.token;
    const first = await search(token, 'tide', { first: 2 });
    expect(first.totalCount).toBe(6);
    const seen = first.edges.map((e: any) => e.node.id);
    let after = first.pageInfo.endCursor;
    let more = first.pageInfo.hasNextPage;
    // A new match arrives between every two pages: the list the first page saw is the one paged through.
    let added = 0;
    while (more) {
      await exchange(t, llm, chat, `Another tide, late ${added}.`, `tide ${added}`);
      added += 1;
      const page = await search(token, 'tide', { first: 2, after });
      expect(page.totalCount).toBe(6);
      expect(page.pageInfo.hasPreviousPage).toBe(true);
      seen.push(...page.edges.map((e: any) => e.node.id));
      after = page.pageInfo.endCursor;
      more = page.pageInfo.hasNextPage;
    }
    expect(seen).toHaveLength(6);
    expect(new Set(seen).size).toBe(6);
    // A new search finds the new ones too.
    expect((await search(token, 'tide', { first: 100 })).totalCount).toBe(6 + 2 * added);

    // Deleting the first user message deletes everything below it: none of it is found any more.
    const DELETE = /* GraphQL */ `mutation($id: ID!) { deleteMessage(messageId: $id) { id } }`;
    const [question] = await found(token, '"tide rises number 0"');
    await ok(t, DELETE, { id: question }, token);
    expect(await found(token, 'tide', { conversationId: chat.conversationId, first: 100 })).toEqual([]);
    expect(await found(token, 'lighthouse')).toHaveLength(3);
  });
});
