/**
 * exportConversation and importConversation through the gateway on both engines: each format checked against its
 * shape (SillyTavern's JSONL parsed back line by line), round trips that give the same tree, hand-made files with a
 * malformed line (the line named, nothing half-imported), the 10,000-message limit, and who may export and import what.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { START_TIMEOUT_MS, startChat, type Chat } from '../chat/helpers';
import { myConversationIds } from '../e2e/helpers';
import { startFakeLlm, type FakeLlmServer } from '../support/fake-llm';
import { ENGINES, startTestSystem, type TestSystem } from '../support/system';
import { codeOf, exchange, ok } from './helpers';

const EXPORT = /* GraphQL */ `query($id: ID!, $format: ConversationExportFormat!) { exportConversation(id: $id, format: $format) { filename mimeType content } }`;
const IMPORT = /* GraphQL */ `
  mutation($input: ImportConversationInput!) {
    importConversation(input: $input) { id title character { id } messageCount messages(first: 100) { edges { node { id role content active } } } }
  }`;
const REGENERATE = /* GraphQL */ `mutation($id: ID!) { regenerateReply(messageId: $id) { id } }`;
const WAIT_REPLY = /* GraphQL */ `query($id: ID!) { message(id: $id) { status } }`;
const SEARCH = /* GraphQL */ `query($q: String!) { searchMessages(query: $q) { totalCount } }`;

/** A JSON export's messages with ids replaced by positions, for comparing two trees. */
function shape(file: any) {
  const index = new Map<string, number>(file.messages.map((m: any, i: number) => [m.id, i]));
  return file.messages.map((m: any) => ({
    parent: m.parentId === null ? null : index.get(m.parentId),
    activeChild: m.activeChildId === null ? null : index.get(m.activeChildId),
    role: m.role,
    content: m.content,
    status: m.status,
    active: m.active,
    createdAt: m.createdAt,
    model: m.model,
    provider: m.provider,
    tokenUsage: m.tokenUsage,
    finishReason: m.finishReason,
    latencyMs: m.latencyMs,
  }));
}

const jsonl = (lines: unknown[]) => lines.map((line) => (typeof line === 'string' ? line : JSON.stringify(line))).join('\n');

describe.each(ENGINES)('export and import (%s)', (engine) => {
  let t: TestSystem;
  let llm: FakeLlmServer;
  let chat: Chat;
  let swiped: { replyIds: string[] };

  beforeAll(async () => {
    llm = await startFakeLlm({ tokens: ['Fine.'], tokenDelayMs: 1, promptTokens: 21 });
    t = await startTestSystem(engine, { LLM_PROVIDER: 'openai', LLM_BASE_URL: llm.baseUrl, LLM_MODEL: 'test-model', RATE_LIMIT_MESSAGES_PER_MINUTE: '1000' });
    chat = await startChat(t, { name: 'Exporter', character: { alternateGreetings: ['Ah, {{user}}. Sit down.'] } });
    const first = await exchange(t, llm, chat, 'What do you make of the mud on my boots?', 'Surrey clay, my friend.');
    llm.script({ tokens: ['Kent chalk, obviously.'] });
    const again = await ok(t, REGENERATE, { id: first.reply.id }, chat.user.token);
    for (;;) {
      const res = await t.gql(WAIT_REPLY, { id: again.id }, chat.user.token);
      if (!['PENDING', 'STREAMING'].includes(res.data.message.status)) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    swiped = { replyIds: [first.reply.id, again.id] };
    await exchange(t, llm, chat, 'And the <tobacco> ash?', 'Trichinopoly, *unmistakably*.');
  }, START_TIMEOUT_MS * 2);
  afterAll(async () => {
    await t?.stop();
    await llm?.close();
  }, START_TIMEOUT_MS);

  const exportAs = (format: string, id = chat.conversationId, token = chat.user.token) => ok(t, EXPORT, { id, format }, token);
  const importAs = (format: string, content: string, characterId = chat.characterId, token = chat.user.token) => t.gql(IMPORT, { input: { characterId, format, content } }, token);

  it('exports every message of the tree as JSON, with parents, usage and times', async () => {
    const file = await exportAs('JSON');
    expect(file).toMatchObject({ filename: `conversation-${chat.conversationId}.json`, mimeType: 'application/json' });
    const body = JSON.parse(file.content);
    expect(body).toMatchObject({ format: 'character-chat.conversation', version: 1, conversationId: chat.conversationId, character: 'Sherlock', user: 'Exporter' });
    // Greeting and its alternative, question, two replies (swipes), question, reply.
    expect(body.messages.map((m: any) => [m.role, m.content, m.active])).toEqual([
      ['ASSISTANT', 'Come in, Watson.', true],
      ['ASSISTANT', 'Ah, Exporter. Sit down.', false],
      ['USER', 'What do you make of the mud on my boots?', true],
      ['ASSISTANT', 'Surrey clay, my friend.', false],
      ['ASSISTANT', 'Kent chalk, obviously.', true],
      ['USER', 'And the <tobacco> ash?', true],
      ['ASSISTANT', 'Trichinopoly, *unmistakably*.', true],
    ]);
    const [greeting, , question, firstReply, secondReply] = body.messages;
    expect(question.parentId).toBe(greeting.id);
    expect(firstReply.parentId).toBe(question.id);
    expect(secondReply.parentId).toBe(question.id);
    expect(secondReply).toMatchObject({ id: swiped.replyIds[1], model: 'test-model', status: 'COMPLETED', tokenUsage: { promptTokens: 21, completionTokens: expect.any(Number) } });
    expect(Date.parse(secondReply.createdAt)).toBeLessThanOrEqual(Date.parse(secondReply.completedAt));
  });

  it('exports the active path as readable Markdown', async () => {
    const file = await exportAs('MARKDOWN');
    expect(file.mimeType).toBe('text/markdown');
    expect(file.content).toMatch(/^# Chat with Sherlock\n/);
    expect(file.content).toContain('**Exporter** · ');
    expect(file.content).toContain('Kent chalk, obviously.');
    expect(file.content).toContain('Trichinopoly, *unmistakably*.');
    expect(file.content).not.toContain('Surrey clay');
  });

  it("exports SillyTavern's JSONL: a header, then one line per message of the path, alternatives as swipes", async () => {
    const file = await exportAs('SILLYTAVERN_JSONL');
    expect(file).toMatchObject({ filename: `conversation-${chat.conversationId}.jsonl`, mimeType: 'application/jsonl' });
    const lines = file.content.trimEnd().split('\n').map((line: string) => JSON.parse(line));
    expect(lines[0]).toEqual({ user_name: 'Exporter', character_name: 'Sherlock', create_date: expect.any(String), chat_metadata: {} });
    const messages = lines.slice(1);
    expect(messages.map((m: any) => [m.name, m.is_user, m.mes])).toEqual([
      ['Sherlock', false, 'Come in, Watson.'],
      ['Exporter', true, 'What do you make of the mud on my boots?'],
      ['Sherlock', false, 'Kent chalk, obviously.'],
      ['Exporter', true, 'And the <tobacco> ash?'],
      ['Sherlock', false, 'Trichinopoly, *unmistakably*.'],
    ]);
    for (const m of messages) expect(Number.isNaN(Date.parse(m.send_date))).toBe(false);
    expect(messages[0]).toMatchObject({ swipes: ['Come in, Watson.', 'Ah, Exporter. Sit down.'], swipe_id: 0 });
    expect(messages[2]).toMatchObject({ swipes: ['Surrey clay, my friend.', 'Kent chalk, obviously.'], swipe_id: 1, extra: { model: 'test-model' } });
    expect(messages[1].swipes).toBeUndefined();
  });

  it('imports a JSON export into a new conversation with the same tree', async () => {
    const original = JSON.parse((await exportAs('JSON')).content);
    const res = await importAs('JSON', JSON.stringify(original));
    expect(res.errors).toBeUndefined();
    const imported = res.data.importConversation;
    expect(imported.id).not.toBe(chat.conversationId);
    expect(imported).toMatchObject({ title: 'Imported chat with Sherlock', character: { id: chat.characterId }, messageCount: 5 });
    expect(imported.messages.edges.map((e: any) => e.node.content)).toEqual(['Come in, Watson.', 'What do you make of the mud on my boots?', 'Kent chalk, obviously.', 'And the <tobacco> ash?', 'Trichinopoly, *unmistakably*.']);
    expect(await myConversationIds(t, chat.user.token)).toContain(imported.id);
    const again = JSON.parse((await exportAs('JSON', imported.id)).content);
    expect(shape(again)).toEqual(shape(original));
    // The imported conversation is one like any other: it can be chatted in.
    await exchange(t, llm, { ...chat, conversationId: imported.id }, 'Back in Baker Street.', 'Indeed.');
  });

  it('imports a SillyTavern export back to the same file', async () => {
    const original = (await exportAs('SILLYTAVERN_JSONL')).content;
    const res = await importAs('SILLYTAVERN_JSONL', original);
    expect(res.errors).toBeUndefined();
    expect(res.data.importConversation.messageCount).toBe(5);
    expect((await exportAs('SILLYTAVERN_JSONL', res.data.importConversation.id)).content).toBe(original);
  });

  it("imports a hand-made SillyTavern file (SillyTavern's own dates, blank lines, swipes)", async () => {
    const content = jsonl([
      { user_name: 'Traveller', character_name: 'Aria', create_date: '2024-01-22@04h13m05s', chat_metadata: { integrity: 'x' } },
      { name: 'Aria', is_user: false, is_system: false, send_date: 'January 22, 2024 4:13am', mes: 'The harbour is quiet.' },
      '',
      { name: 'Traveller', is_user: true, send_date: 1705896800000, mes: 'Any ships tonight?' },
      { name: 'Aria', is_user: false, send_date: '2024-01-22T04:14:00.000Z', mes: 'One, flying no flag.', swipes: ['None.', 'One, flying no flag.', 'A storm keeps them away.'], swipe_id: 1 },
    ]);
    const res = await importAs('SILLYTAVERN_JSONL', content);
    expect(res.errors).toBeUndefined();
    const imported = res.data.importConversation;
    expect(imported.messages.edges.map((e: any) => [e.node.role, e.node.content])).toEqual([
      ['ASSISTANT', 'The harbour is quiet.'],
      ['USER', 'Any ships tonight?'],
      ['ASSISTANT', 'One, flying no flag.'],
    ]);
    const tree = JSON.parse((await exportAs('JSON', imported.id)).content).messages;
    expect(tree.map((m: any) => [m.content, m.active])).toEqual([
      ['The harbour is quiet.', true],
      ['Any ships tonight?', true],
      ['None.', false],
      ['One, flying no flag.', true],
      ['A storm keeps them away.', false],
    ]);
    expect(tree.map((m: any) => m.createdAt).slice(0, 2)).toEqual(['2024-01-22T04:13:00.000Z', '2024-01-22T04:13:20.000Z']);
  });

  it('refuses a malformed file naming the line, and imports nothing of it', async () => {
    const before = await myConversationIds(t, chat.user.token);
    const header = { user_name: 'A', character_name: 'B', create_date: '', chat_metadata: {} };
    const good = { name: 'A', is_user: true, send_date: '', mes: 'zanzibarquux first' };
    const cases: Array<[string, string, RegExp]> = [
      ['SILLYTAVERN_JSONL', jsonl([header, good, '{"name": "B", "is_user": false, "mes": "cut sh']), /line 3: not valid JSON/],
      ['SILLYTAVERN_JSONL', jsonl([header, good, { name: 'B', mes: 'no is_user' }]), /line 3: is_user/],
      ['SILLYTAVERN_JSONL', jsonl([header, good, { name: 'B', is_user: false, mes: 42 }]), /line 3: the message text/],
      ['SILLYTAVERN_JSONL', jsonl([header, good, { name: 'B', is_user: false, mes: 'x', swipes: ['x', 'y'], swipe_id: 5 }]), /line 3: swipe_id/],
      ['SILLYTAVERN_JSONL', jsonl([good, good]), /line 1: expected SillyTavern's header/],
      ['SILLYTAVERN_JSONL', jsonl([header]), /no messages/],
      ['JSON', '{"messages": [', /not valid JSON/],
      ['JSON', JSON.stringify({ messages: [{ id: 'a', role: 'USER', content: 'zanzibarquux' }, { id: 'b', parentId: 'zzz', role: 'ASSISTANT', content: 'x' }] }), /messages\[1\]\.parentId/],
      ['JSON', JSON.stringify({ messages: [{ id: 'a', role: 'ROBOT', content: 'zanzibarquux' }] }), /messages\[0\]\.role/],
      ['MARKDOWN', '# Chat', /MARKDOWN files cannot be imported/],
    ];
    for (const [format, content, message] of cases) {
      const res = await importAs(format, content);
      expect(codeOf(res)).toBe('BAD_USER_INPUT');
      expect(res.errors![0].message).toMatch(message);
    }
    expect(await myConversationIds(t, chat.user.token)).toEqual(before);
    expect((await ok(t, SEARCH, { q: 'zanzibarquux' }, chat.user.token)).totalCount).toBe(0);
  });

  it('refuses a file of more than 10,000 messages with a clear error', async () => {
    const header = { user_name: 'A', character_name: 'B', chat_metadata: {} };
    const lines = Array.from({ length: 10_001 }, (_, i) => ({ name: 'A', is_user: i % 2 === 0, mes: `m${i}` }));
    const res = await importAs('SILLYTAVERN_JSONL', jsonl([header, ...lines]));
    expect(codeOf(res)).toBe('BAD_USER_INPUT');
    expect(res.errors![0].message).toMatch(/more than 10000 messages/);
    // 10,000 exactly is within the limit.
    const within = await importAs('SILLYTAVERN_JSONL', jsonl([header, ...lines.slice(0, 10_000)]));
    expect(within.errors).toBeUndefined();
    expect(within.data.importConversation.messageCount).toBe(10_000);
  }, 120_000);

  it('answers every damaged file with an import or BAD_USER_INPUT, and keeps only what it imported', async () => {
    const user = await t.signUp('Fuzzer');
    const character = await ok(t, `mutation { createCharacter(input: { name: "Fuzzed", greeting: "Hi." }) { id } }`, {}, user.token);
    const files = { JSON: (await exportAs('JSON')).content as string, SILLYTAVERN_JSONL: (await exportAs('SILLYTAVERN_JSONL')).content as string };
    let imported = 0;
    let refused = 0;
    const damaged = fc.record({
      format: fc.constantFrom<'JSON' | 'SILLYTAVERN_JSONL'>('JSON', 'SILLYTAVERN_JSONL'),
      cut: fc.nat(),
      at: fc.nat(),
      insert: fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('"', '{', '}', '\n', ',', 'null', '[]', '\\')),
      kind: fc.constantFrom('cut', 'insert', 'both'),
    });
    await fc.assert(
      fc.asyncProperty(damaged, async ({ format, cut, at, insert, kind }) => {
        let content = files[format];
        if (kind !== 'insert') content = content.slice(0, cut % content.length);
        if (kind !== 'cut') {
          const i = at % (content.length + 1);
          content = content.slice(0, i) + insert + content.slice(i);
        }
        const res = await importAs(format, content, character.id, user.token);
        expect(res.status).toBeLessThan(500);
        if (res.errors) {
          expect(res.errors.map((e: any) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);
          refused += 1;
        } else imported += 1;
      }),
      { seed: 18, numRuns: 60 },
    );
    // Both outcomes happened (a damage inside a text keeps the file valid), and only the imports were kept.
    expect(imported).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
    expect(await myConversationIds(t, user.token)).toHaveLength(imported);
  }, 180_000);

  it("exports to the owner or an admin only, and imports only with a character the caller may see", async () => {
    const stranger = await t.signUp('Stranger');
    expect(codeOf(await t.gql(EXPORT, { id: chat.conversationId, format: 'JSON' }, stranger.token))).toBe('NOT_FOUND');
    expect(codeOf(await t.gql(EXPORT, { id: chat.conversationId, format: 'JSON' }))).toBe('UNAUTHENTICATED');
    const admin = await t.signUpAdmin();
    expect(JSON.parse((await exportAs('JSON', chat.conversationId, admin.token)).content).messages).toHaveLength(7);

    // The stranger may not talk with the Exporter's private character: nothing of the import is kept.
    const privateCharacter = await ok(t, `mutation { createCharacter(input: { name: "Mycroft", visibility: PRIVATE, greeting: "Hm." }) { id } }`, {}, chat.user.token);
    const file = jsonl([{ user_name: 'S', character_name: 'M', chat_metadata: {} }, { name: 'S', is_user: true, mes: 'quixotrance' }]);
    const refused = await importAs('SILLYTAVERN_JSONL', file, privateCharacter.id, stranger.token);
    expect(codeOf(refused)).toBe('NOT_FOUND');
    expect(await myConversationIds(t, stranger.token)).toEqual([]);
    expect((await ok(t, SEARCH, { q: 'quixotrance' }, stranger.token)).totalCount).toBe(0);
  });
});
