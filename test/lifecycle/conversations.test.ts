/**
 * Deleting a conversation through the gateway (issue 19): soft, so it and its messages leave every
 * list and query at once and an open subscription to it ends; restoreConversation brings it all
 * back; nobody else can delete or restore it. Run with Redis, so the subscription's end crosses the bus.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ErrorCode } from '@chat/shared/errors';
import { conversation, EVENTS, sendOk, startChat, START_TIMEOUT_MS, waitForEnd } from '../chat/helpers';
import { expectError, expectOk, myConversationIds } from '../e2e/helpers';
import { startTestSystem, type TestSystem } from '../support/system';
import { collect, wsClient } from '../support/ws';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const DELETE = /* GraphQL */ `mutation($id: ID!) { deleteConversation(id: $id) }`;
const RESTORE = /* GraphQL */ `mutation($id: ID!) { restoreConversation(id: $id) { id title messageCount } }`;
const GET = /* GraphQL */ `query($id: ID!) { conversation(id: $id) { id } }`;
const MESSAGE = /* GraphQL */ `query($id: ID!) { message(id: $id) { id conversation { id } } }`;
const ARCHIVE = /* GraphQL */ `mutation($id: ID!) { archiveConversation(id: $id) { id status } }`;

describe('deleteConversation and restoreConversation', () => {
  let t: TestSystem;
  beforeAll(async () => {
    t = await startTestSystem('pglite', { REDIS_URL });
  }, START_TIMEOUT_MS);
  afterAll(() => t?.stop());

  it('hides the conversation and its messages everywhere at once, ends its open subscription, and restores it all', async () => {
    const chat = await startChat(t, { name: 'Deleter' });
    const { user, conversationId } = chat;
    const keep = await startChat(t, { user });
    const sent = await sendOk(t, user.token, conversationId, 'Hello there');
    await waitForEnd(t, user.token, sent.reply.id);
    const before = await conversation(t, user.token, conversationId);
    expect(before.messageCount).toBeGreaterThanOrEqual(3);

    const client = wsClient(t.gatewayUrl, user.token);
    try {
      const events = collect<any>(client, EVENTS, { id: conversationId }, 'conversationEvents');
      // The subscription is open once a reply sent now reaches it (a late joiner is caught up on it).
      const probe = await sendOk(t, user.token, conversationId, 'Are you listening?');
      await events.until((all) => all.some((e) => e.messageId === probe.reply.id));
      await waitForEnd(t, user.token, probe.reply.id);

      expect(expectOk(await t.gql(DELETE, { id: conversationId }, user.token)).deleteConversation).toBe(true);
      // The open subscription ends, with NOT_FOUND as a new one would get.
      await events.done;
      expect(JSON.stringify(events.errors)).toContain(ErrorCode.NOT_FOUND);

      // Gone from the list, the query and every message query; the other conversation stays.
      const listed = await myConversationIds(t, user.token);
      expect(listed).not.toContain(conversationId);
      expect(listed).toContain(keep.conversationId);
      expect(expectOk(await t.gql(GET, { id: conversationId }, user.token)).conversation).toBeNull();
      for (const message of before.messages) expect(expectOk(await t.gql(MESSAGE, { id: message.id }, user.token)).message).toBeNull();
      // Nothing can be done in it, and a new subscription is refused.
      expectError(await t.gql(`mutation($c: ID!) { sendMessage(input: { conversationId: $c, content: "hi" }) { message { id } } }`, { c: conversationId }, user.token), ErrorCode.NOT_FOUND);
      expectError(await t.gql(ARCHIVE, { id: conversationId }, user.token), ErrorCode.NOT_FOUND);
      const again = collect<any>(client, EVENTS, { id: conversationId }, 'conversationEvents');
      await again.done;
      expect(JSON.stringify(again.errors)).toContain(ErrorCode.NOT_FOUND);
      // Deleting twice: it is not there to delete.
      expectError(await t.gql(DELETE, { id: conversationId }, user.token), ErrorCode.NOT_FOUND);
    } finally {
      await client.dispose();
    }

    // Restored: back in the list with every message it had.
    const restored = expectOk(await t.gql(RESTORE, { id: conversationId }, user.token)).restoreConversation;
    expect(restored).toEqual({ id: conversationId, title: 'Baker Street', messageCount: expect.any(Number) });
    expect(await myConversationIds(t, user.token)).toContain(conversationId);
    const after = await conversation(t, user.token, conversationId);
    expect(after.messages.map((m) => m.id)).toEqual(expect.arrayContaining(before.messages.map((m) => m.id)));
    expect(expectOk(await t.gql(MESSAGE, { id: before.messages[0].id }, user.token)).message.conversation.id).toBe(conversationId);
    await sendOk(t, user.token, conversationId, 'Back again');
    expectError(await t.gql(RESTORE, { id: conversationId }, user.token), ErrorCode.NOT_FOUND);
  });

  it("refuses anyone else's conversation with NOT_FOUND, changing nothing", async () => {
    const { user, conversationId } = await startChat(t, { name: 'Owner' });
    const stranger = await t.signUp('Stranger');
    expectError(await t.gql(DELETE, { id: conversationId }, stranger.token), ErrorCode.NOT_FOUND);
    expectError(await t.gql(DELETE, { id: conversationId }), ErrorCode.UNAUTHENTICATED);
    expectError(await t.gql(DELETE, { id: 'not-a-uuid' }, user.token), ErrorCode.NOT_FOUND);
    expect(await myConversationIds(t, user.token)).toContain(conversationId);
    expectOk(await t.gql(DELETE, { id: conversationId }, user.token));
    expectError(await t.gql(RESTORE, { id: conversationId }, stranger.token), ErrorCode.NOT_FOUND);
    expect(await myConversationIds(t, user.token)).not.toContain(conversationId);
  });

  it('keeps the internal mutations to their one caller: eraseUserData (users), recordConversationState and runMessageRetention (conversations)', async () => {
    const { user, conversationId } = await startChat(t, { name: 'Guarded' });
    const stranger = await t.signUp('Intruder');
    const ERASE = /* GraphQL */ `mutation($u: ID!) { eraseUserData(userId: $u) }`;
    const STATE = /* GraphQL */ `mutation($c: ID!, $d: DateTime) { recordConversationState(conversationId: $c, deletedAt: $d) }`;
    const RETENTION = /* GraphQL */ `mutation { runMessageRetention(dryRun: false) }`;
    const asUser = { id: user.id, role: 'USER' as const };
    for (const subgraph of ['characters', 'conversations', 'messages'] as const) {
      // The gateway forwards clients' operations: never an internal field's caller.
      expectError(await t.subgraphGql(subgraph, ERASE, { u: user.id }, { token: user.token }), ErrorCode.FORBIDDEN);
      expectError(await t.subgraphGql(subgraph, ERASE, { u: user.id }, { as: 'conversations', actingFor: asUser }), ErrorCode.FORBIDDEN);
      // The users service erases only the user it acts for.
      expectError(await t.subgraphGql(subgraph, ERASE, { u: user.id }, { as: 'users', actingFor: { id: stranger.id, role: 'USER' } }), ErrorCode.BAD_USER_INPUT);
    }
    // Through the gateway the field does not exist.
    expect((await t.gql(ERASE, { u: user.id }, user.token)).errors?.length).toBeGreaterThan(0);
    const deletedAt = new Date().toISOString();
    expectError(await t.subgraphGql('messages', STATE, { c: conversationId, d: deletedAt }, { as: 'users', actingFor: asUser }), ErrorCode.FORBIDDEN);
    expectError(await t.subgraphGql('messages', STATE, { c: conversationId, d: deletedAt }, { as: 'conversations', actingFor: { id: stranger.id, role: 'USER' } }), ErrorCode.NOT_FOUND);
    expectError(await t.subgraphGql('messages', STATE, { c: conversationId, d: 'yesterday' }, { as: 'conversations', actingFor: asUser }), ErrorCode.BAD_USER_INPUT);
    expectError(await t.subgraphGql('messages', RETENTION, {}, { as: 'conversations', actingFor: asUser }), ErrorCode.FORBIDDEN);
    expectError(await t.subgraphGql('messages', RETENTION, {}, { token: user.token }), ErrorCode.FORBIDDEN);
    // Nothing changed: the conversation and its messages are all there.
    expect(await myConversationIds(t, user.token)).toContain(conversationId);
    expect((await conversation(t, user.token, conversationId)).messageCount).toBeGreaterThan(0);
  });
});
