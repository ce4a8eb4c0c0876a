/** Conversations through the gateway: starting one with its greeting, who may see it, the caller's list, changes. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ENGINES, startTestSystem, type TestSystem } from '../support/system';
import { createCharacter, expectError, expectOk, myConversationIds, readAllPages, startConversation, START_TIMEOUT_MS } from './helpers';

const START_FULL = /* GraphQL */ `
  mutation($input: StartConversationInput!) {
    startConversation(input: $input) {
      id title status tags createdAt updatedAt lastActivityAt
      settings { model temperature maxTokens contextWindowTokens }
      character { id name greeting }
      user { id displayName }
      messages { edges { node { role content status author { id } } } pageInfo { hasNextPage } }
      messageCount
      lastMessage { role content status }
    }
  }`;
const GET = /* GraphQL */ `query($id: ID!) { conversation(id: $id) { id title status user { id } } }`;
const LIST = /* GraphQL */ `
  query($first: Int, $after: String, $status: ConversationStatus) {
    me { conversations(first: $first, after: $after, status: $status) {
      edges { cursor node { id status lastActivityAt } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    } }
  }`;
const UPDATE = /* GraphQL */ `
  mutation($id: ID!, $title: String, $tags: [String!], $settings: ConversationSettingsInput) {
    updateConversation(id: $id, title: $title, tags: $tags, settings: $settings) {
      id title tags status updatedAt settings { model temperature maxTokens contextWindowTokens }
    }
  }`;
const ARCHIVE = /* GraphQL */ `mutation($id: ID!) { archiveConversation(id: $id) { id status } }`;
const UNARCHIVE = /* GraphQL */ `mutation($id: ID!) { unarchiveConversation(id: $id) { id status } }`;

describe.each(ENGINES)('conversations (%s)', (engine) => {
  let t: TestSystem;
  let alice: { token: string; id: string };
  let bob: { token: string; id: string };
  let admin: { token: string; id: string };
  let sherlock: { id: string; name: string; greeting: string };
  let bobsSecret: { id: string };

  beforeAll(async () => {
    t = await startTestSystem(engine);
    [alice, bob] = await Promise.all([t.signUp('Alice'), t.signUp('Bob')]);
    const registered = await t.gql(`mutation { register(input: { email: "admin@example.com", password: "admin password 1", displayName: "Admin" }) { accessToken user { id } } }`);
    admin = { token: expectOk(registered).register.accessToken, id: registered.data.register.user.id };
    sherlock = await createCharacter(t, bob.token, { name: 'Sherlock', greeting: 'Ah, a visitor. Do sit down.', visibility: 'PUBLIC' });
    bobsSecret = await createCharacter(t, bob.token, { name: 'Secret' });
  }, START_TIMEOUT_MS);
  afterAll(() => t?.stop());

  const list = async (variables: Record<string, unknown>, token: string) => expectOk(await t.gql(LIST, variables, token)).me.conversations;

  it("starts a conversation opened by the character's greeting", async () => {
    const res = await t.gql(START_FULL, { input: { characterId: sherlock.id } }, alice.token);
    const conversation = expectOk(res).startConversation;
    expect(conversation).toMatchObject({
      title: 'Chat with Sherlock',
      status: 'ACTIVE',
      tags: [],
      settings: { model: t.config.llm.model, temperature: 0.8, maxTokens: 512, contextWindowTokens: 8192 },
      character: { id: sherlock.id, name: 'Sherlock', greeting: 'Ah, a visitor. Do sit down.' },
      user: { id: alice.id, displayName: 'Alice' },
      messages: {
        edges: [{ node: { role: 'ASSISTANT', content: 'Ah, a visitor. Do sit down.', status: 'COMPLETED', author: null } }],
        pageInfo: { hasNextPage: false },
      },
      messageCount: 1,
      lastMessage: { role: 'ASSISTANT', content: 'Ah, a visitor. Do sit down.', status: 'COMPLETED' },
    });
    expect(conversation.createdAt).toBe(conversation.lastActivityAt);
    expect(await myConversationIds(t, alice.token)).toContain(conversation.id);
  });

  it('starts with the given title, tags and settings (merged over the defaults)', async () => {
    const res = await t.gql(
      START_FULL,
      { input: { characterId: sherlock.id, title: '  The Case  ', tags: ['mystery', 'mystery', ' london '], settings: { temperature: 1.5, maxTokens: 100 } } },
      alice.token,
    );
    expect(expectOk(res).startConversation).toMatchObject({
      title: 'The Case',
      tags: ['mystery', 'london'],
      settings: { model: t.config.llm.model, temperature: 1.5, maxTokens: 100, contextWindowTokens: 8192 },
      messageCount: 1,
    });
  });

  it("refuses a character the caller cannot see as NOT_FOUND and creates nothing", async () => {
    const before = await myConversationIds(t, alice.token);
    const deleted = await createCharacter(t, alice.token, { name: 'Short-lived', visibility: 'PUBLIC' });
    expectOk(await t.gql(`mutation($id: ID!) { deleteCharacter(id: $id) }`, { id: deleted.id }, alice.token));
    for (const characterId of [bobsSecret.id, deleted.id, '00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
      const res = await t.gql(START_FULL, { input: { characterId } }, alice.token);
      expectError(res, 'NOT_FOUND');
      expect(res.data?.startConversation ?? null).toBeNull();
      expect(JSON.stringify(res.errors)).not.toContain('Secret');
    }
    expect(await myConversationIds(t, alice.token)).toEqual(before);
    // The owner may start one with their own private character.
    expect((await startConversation(t, bob.token, bobsSecret.id)).title).toBe('Chat with Secret');
  });

  it('keeps showing a conversation whose character was deleted afterwards', async () => {
    const fleeting = await createCharacter(t, bob.token, { name: 'Fleeting', greeting: 'Here today.', visibility: 'PUBLIC' });
    const conversation = await startConversation(t, alice.token, fleeting.id);
    expectOk(await t.gql(`mutation($id: ID!) { deleteCharacter(id: $id) }`, { id: fleeting.id }, bob.token));
    const res = await t.gql(`query($id: ID!) { conversation(id: $id) { title character { id name } lastMessage { content } } }`, { id: conversation.id }, alice.token);
    expect(expectOk(res).conversation).toEqual({ title: 'Chat with Fleeting', character: { id: fleeting.id, name: 'Fleeting' }, lastMessage: { content: 'Here today.' } });
    expect(await myConversationIds(t, alice.token)).toContain(conversation.id);
  });

  it('requires a signed-in caller to start, change and list', async () => {
    expectError(await t.gql(START_FULL, { input: { characterId: sherlock.id } }), 'UNAUTHENTICATED');
    const mine = await startConversation(t, alice.token, sherlock.id);
    expectError(await t.gql(ARCHIVE, { id: mine.id }), 'UNAUTHENTICATED');
    expectError(await t.gql(UPDATE, { id: mine.id, title: 'Anonymous' }), 'UNAUTHENTICATED');
    expect(expectOk(await t.gql(LIST, {})).me).toBeNull();
  });

  it("hides a conversation from other users (null, no error) but not from admins", async () => {
    const mine = await startConversation(t, alice.token, sherlock.id);
    expect(expectOk(await t.gql(GET, { id: mine.id }, alice.token)).conversation).toMatchObject({ id: mine.id, user: { id: alice.id } });
    for (const token of [bob.token, undefined]) {
      expect(await t.gql(GET, { id: mine.id }, token)).toEqual({ status: 200, data: { conversation: null }, errors: undefined });
    }
    expect(expectOk(await t.gql(GET, { id: mine.id }, admin.token)).conversation.id).toBe(mine.id);
    expect(await myConversationIds(t, bob.token)).not.toContain(mine.id);
    expect(expectOk(await t.gql(GET, { id: 'not-a-uuid' }, alice.token)).conversation).toBeNull();
  });

  it("does not list another user's conversations", async () => {
    await startConversation(t, bob.token, sherlock.id);
    const res = await t.gql(`query($id: ID!) { character(id: $id) { owner { id conversations { edges { node { id title } } } } } }`, { id: sherlock.id }, alice.token);
    expect(res.status).toBeLessThan(500);
    expect(['FORBIDDEN', 'NOT_FOUND']).toContain(res.errors?.[0]?.extensions?.code);
    expect(JSON.stringify(res.data)).not.toContain('Chat with');
  });

  it('lists my conversations by latest activity, in pages, filtered by status', async () => {
    const carol = await t.signUp('Carol');
    const started: string[] = [];
    for (let i = 0; i < 5; i++) started.push((await startConversation(t, carol.token, sherlock.id)).id);
    const newestFirst = [...started].reverse();

    const pages = await readAllPages((after) => list({ first: 2, after }, carol.token));
    expect(pages.map((p) => p.edges.length)).toEqual([2, 2, 1]);
    expect(pages.map((p) => [p.pageInfo.hasNextPage, p.pageInfo.hasPreviousPage])).toEqual([[true, false], [true, true], [false, true]]);
    const nodes = pages.flatMap((p) => p.edges.map((e) => e.node));
    expect(nodes.map((n) => n.id)).toEqual(newestFirst);
    const times = nodes.map((n) => new Date(n.lastActivityAt).getTime());
    expect(times).toEqual([...times].sort((a, b) => b - a));

    // Archive the 2nd and 4th newest; the status filter splits the list, each part still in order and pageable.
    for (const id of [newestFirst[1], newestFirst[3]]) expect(expectOk(await t.gql(ARCHIVE, { id }, carol.token)).archiveConversation.status).toBe('ARCHIVED');
    const ids = async (status?: string) =>
      (await readAllPages((after) => list({ first: 1, after, status }, carol.token))).flatMap((p) => p.edges.map((e) => e.node.id));
    expect(await ids('ARCHIVED')).toEqual([newestFirst[1], newestFirst[3]]);
    expect(await ids('ACTIVE')).toEqual([newestFirst[0], newestFirst[2], newestFirst[4]]);
    expect(await ids()).toEqual(newestFirst);
  });

  it('updates title, tags and settings; settings merge and are validated', async () => {
    const conversation = await startConversation(t, alice.token, sherlock.id);
    const before = expectOk(await t.gql(UPDATE, { id: conversation.id }, alice.token)).updateConversation;
    await new Promise((resolve) => setTimeout(resolve, 5));
    const res = await t.gql(UPDATE, { id: conversation.id, title: ' Renamed ', tags: ['a', 'b'], settings: { temperature: 0, maxTokens: 1000 } }, alice.token);
    const updated = expectOk(res).updateConversation;
    expect(updated).toMatchObject({
      title: 'Renamed',
      tags: ['a', 'b'],
      settings: { model: before.settings.model, temperature: 0, maxTokens: 1000, contextWindowTokens: 8192 },
    });
    expect(new Date(updated.updatedAt).getTime()).toBeGreaterThan(new Date(before.updatedAt).getTime());
    // Only what is given changes.
    const partly = expectOk(await t.gql(UPDATE, { id: conversation.id, settings: { temperature: 0.5 } }, alice.token)).updateConversation;
    expect(partly).toMatchObject({ title: 'Renamed', tags: ['a', 'b'], settings: { model: before.settings.model, temperature: 0.5, maxTokens: 1000, contextWindowTokens: 8192 } });

    const invalid: Array<[Record<string, unknown>, string]> = [
      [{ temperature: 2.01 }, 'temperature'],
      [{ temperature: -0.1 }, 'temperature'],
      [{ maxTokens: 8192 }, 'maxTokens'],
      [{ contextWindowTokens: 1000 }, 'maxTokens'],
      [{ maxTokens: 0 }, 'maxTokens'],
      [{ model: '  ' }, 'model'],
      // Only the models of the provider's catalogue (here the offline provider's one).
      [{ model: 'other-model' }, 'model'],
      [{ provider: 'openai' }, 'provider'],
    ];
    for (const [settings, field] of invalid) {
      expectError(await t.gql(UPDATE, { id: conversation.id, settings }, alice.token), 'BAD_USER_INPUT', field);
    }
    expectError(await t.gql(UPDATE, { id: conversation.id, title: '' }, alice.token), 'BAD_USER_INPUT', 'title');
    // The refused updates changed nothing.
    const after = expectOk(await t.gql(UPDATE, { id: conversation.id }, alice.token)).updateConversation;
    expect(after.settings).toEqual(partly.settings);
    expect(after.title).toBe('Renamed');
  });

  it("archives and unarchives; other users get NOT_FOUND and change nothing", async () => {
    const conversation = await startConversation(t, alice.token, sherlock.id);
    expect(expectOk(await t.gql(ARCHIVE, { id: conversation.id }, alice.token)).archiveConversation).toEqual({ id: conversation.id, status: 'ARCHIVED' });
    expect(expectOk(await t.gql(GET, { id: conversation.id }, alice.token)).conversation.status).toBe('ARCHIVED');
    expect(expectOk(await t.gql(UNARCHIVE, { id: conversation.id }, alice.token)).unarchiveConversation).toEqual({ id: conversation.id, status: 'ACTIVE' });

    expectError(await t.gql(ARCHIVE, { id: conversation.id }, bob.token), 'NOT_FOUND');
    expectError(await t.gql(UNARCHIVE, { id: conversation.id }, bob.token), 'NOT_FOUND');
    expectError(await t.gql(UPDATE, { id: conversation.id, title: 'Mine now' }, bob.token), 'NOT_FOUND');
    expectError(await t.gql(ARCHIVE, { id: 'not-a-uuid' }, bob.token), 'NOT_FOUND');
    expect(expectOk(await t.gql(GET, { id: conversation.id }, alice.token)).conversation).toMatchObject({ status: 'ACTIVE', title: 'Chat with Sherlock' });
    // An admin may manage it.
    expect(expectOk(await t.gql(ARCHIVE, { id: conversation.id }, admin.token)).archiveConversation.status).toBe('ARCHIVED');
  });
});
