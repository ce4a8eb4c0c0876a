/**
 * Message templates through the gateway: CRUD by their owner only, sendMessage(templateId) with {{char}} and {{user}}
 * expanded for the conversation (its persona's name when it has one), content and templateId exclusive, and another
 * user's template refused everywhere.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SEND, START_TIMEOUT_MS, startChat, waitForEnd, type Chat } from '../chat/helpers';
import { startFakeLlm, type FakeLlmServer } from '../support/fake-llm';
import { ENGINES, startTestSystem, type TestSystem } from '../support/system';
import { codeOf, ok } from './helpers';

const CREATE = /* GraphQL */ `mutation($name: String!, $content: String!) { createMessageTemplate(name: $name, content: $content) { id name content createdAt } }`;
const UPDATE = /* GraphQL */ `mutation($id: ID!, $name: String, $content: String) { updateMessageTemplate(id: $id, name: $name, content: $content) { id name content } }`;
const DELETE = /* GraphQL */ `mutation($id: ID!) { deleteMessageTemplate(id: $id) }`;
const MINE = /* GraphQL */ `{ me { messageTemplates { id name content } } }`;

describe.each(ENGINES)('message templates (%s)', (engine) => {
  let t: TestSystem;
  let llm: FakeLlmServer;
  let chat: Chat;
  let stranger: Chat;

  beforeAll(async () => {
    llm = await startFakeLlm({ tokens: ['Noted.'], tokenDelayMs: 1 });
    t = await startTestSystem(engine, { LLM_PROVIDER: 'openai', LLM_BASE_URL: llm.baseUrl, LLM_MODEL: 'test-model', RATE_LIMIT_MESSAGES_PER_MINUTE: '1000' });
    chat = await startChat(t, { name: 'Templater' });
    stranger = await startChat(t, { name: 'Stranger' });
  }, START_TIMEOUT_MS);
  afterAll(async () => {
    await t?.stop();
    await llm?.close();
  }, START_TIMEOUT_MS);

  const send = (token: string, input: Record<string, unknown>) => t.gql(SEND, { input }, token);

  it('creates, lists, updates and deletes the caller’s own templates', async () => {
    const token = chat.user.token;
    const greet = await ok(t, CREATE, { name: 'Greet', content: 'Good evening, {{char}}. {{user}} here.' }, token);
    expect(greet).toMatchObject({ name: 'Greet', content: 'Good evening, {{char}}. {{user}} here.' });
    expect(Number.isNaN(Date.parse(greet.createdAt))).toBe(false);
    const bye = await ok(t, CREATE, { name: 'Bye', content: 'Farewell.' }, token);
    expect((await ok(t, MINE, {}, token)).messageTemplates.map((m: any) => m.name)).toEqual(['Greet', 'Bye']);
    expect(await ok(t, UPDATE, { id: bye.id, content: 'Farewell, {{char}}!' }, token)).toEqual({ id: bye.id, name: 'Bye', content: 'Farewell, {{char}}!' });
    expect(await ok(t, UPDATE, { id: bye.id, name: 'Goodbye' }, token)).toEqual({ id: bye.id, name: 'Goodbye', content: 'Farewell, {{char}}!' });
    expect(await ok(t, DELETE, { id: bye.id }, token)).toBe(true);
    expect(codeOf(await t.gql(DELETE, { id: bye.id }, token))).toBe('NOT_FOUND');
    expect((await ok(t, MINE, {}, token)).messageTemplates.map((m: any) => m.id)).toEqual([greet.id]);
    for (const variables of [{ name: ' ', content: 'x' }, { name: 'x', content: '' }, { name: 'x'.repeat(201), content: 'x' }]) {
      expect(codeOf(await t.gql(CREATE, variables, token))).toBe('BAD_USER_INPUT');
    }
    expect(codeOf(await t.gql(CREATE, { name: 'a', content: 'b' }))).toBe('UNAUTHENTICATED');
  });

  it('sends a template with its macros expanded for the conversation', async () => {
    const token = chat.user.token;
    const template = await ok(t, CREATE, { name: 'Knock', content: '*knocks* Are you in, {{Char}}? It is {{user}}.' }, token);
    const res = await send(token, { conversationId: chat.conversationId, templateId: template.id });
    expect(res.errors).toBeUndefined();
    expect(res.data.sendMessage.message.content).toBe('*knocks* Are you in, Sherlock? It is Templater.');
    await waitForEnd(t, token, res.data.sendMessage.reply.id, 30_000);
    // The provider was sent the expanded text.
    expect(llm.requests.at(-1)!.body.messages.at(-1)).toEqual({ role: 'user', content: '*knocks* Are you in, Sherlock? It is Templater.' });
    // With a persona, {{user}} is the persona's name.
    const persona = await ok(t, `mutation { createPersona(input: { name: "Dr. Watson", description: "A doctor." }) { id } }`, {}, token);
    await ok(t, `mutation($id: ID!, $p: ID) { updateConversation(id: $id, personaId: $p) { id } }`, { id: chat.conversationId, p: persona.id }, token);
    const again = await send(token, { conversationId: chat.conversationId, templateId: template.id });
    expect(again.data.sendMessage.message.content).toBe('*knocks* Are you in, Sherlock? It is Dr. Watson.');
    await waitForEnd(t, token, again.data.sendMessage.reply.id, 30_000);
    // The template itself is unchanged.
    expect((await ok(t, MINE, {}, token)).messageTemplates.find((m: any) => m.id === template.id).content).toBe('*knocks* Are you in, {{Char}}? It is {{user}}.');
  });

  it('takes content or templateId, exactly one', async () => {
    const token = chat.user.token;
    const template = await ok(t, CREATE, { name: 'Both', content: 'Hi.' }, token);
    const both = await send(token, { conversationId: chat.conversationId, content: 'Hi.', templateId: template.id });
    expect(codeOf(both)).toBe('BAD_USER_INPUT');
    expect(both.errors![0].message).toMatch(/templateId/);
    const neither = await send(token, { conversationId: chat.conversationId });
    expect(codeOf(neither)).toBe('BAD_USER_INPUT');
    expect(codeOf(await send(token, { conversationId: chat.conversationId, templateId: 'not-an-id' }))).toBe('NOT_FOUND');
  });

  it("refuses another user's template everywhere", async () => {
    const mine = await ok(t, CREATE, { name: 'Private', content: 'Only mine, {{char}}.' }, chat.user.token);
    const token = stranger.user.token;
    expect(codeOf(await send(token, { conversationId: stranger.conversationId, templateId: mine.id }))).toBe('NOT_FOUND');
    expect(codeOf(await t.gql(UPDATE, { id: mine.id, content: 'Stolen' }, token))).toBe('NOT_FOUND');
    expect(codeOf(await t.gql(DELETE, { id: mine.id }, token))).toBe('NOT_FOUND');
    expect((await ok(t, MINE, {}, token)).messageTemplates).toEqual([]);
    const entities = await t.subgraphGql(
      'messages',
      `query($r: [_Any!]!) { _entities(representations: $r) { ... on MessageTemplate { content } ... on User { messageTemplates { id } } } }`,
      { r: [{ __typename: 'MessageTemplate', id: mine.id }] },
      { token },
    );
    expect(entities.data._entities).toEqual([null]);
    const others = await t.subgraphGql(
      'messages',
      `query($r: [_Any!]!) { _entities(representations: $r) { ... on User { messageTemplates { id } } } }`,
      { r: [{ __typename: 'User', id: chat.user.id }] },
      { token },
    );
    expect(codeOf(others)).toBe('FORBIDDEN');
    // Still the owner's, unchanged.
    expect((await ok(t, MINE, {}, chat.user.token)).messageTemplates.find((m: any) => m.id === mine.id).content).toBe('Only mine, {{char}}.');
  });
});
