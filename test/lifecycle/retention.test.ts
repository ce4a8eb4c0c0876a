/**
 * runRetention through the gateway (issue 19), with retention periods of 0 days from configuration
 * (so whatever was deleted or archived before the run is due): a dry run reports and changes
 * nothing; a real run purges the deleted conversation with its messages and the archived one's
 * messages, and nothing else; admins only.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ErrorCode } from '@chat/shared/errors';
import { conversation, sendOk, startChat, START_TIMEOUT_MS, waitForEnd } from '../chat/helpers';
import { expectError, expectOk } from '../e2e/helpers';
import { startTestSystem, type TestSystem } from '../support/system';

const RUN = /* GraphQL */ `mutation($dry: Boolean) { runRetention(dryRun: $dry) { conversationsPurged messagesPurged dryRun } }`;
const DELETE = /* GraphQL */ `mutation($id: ID!) { deleteConversation(id: $id) }`;
const RESTORE = /* GraphQL */ `mutation($id: ID!) { restoreConversation(id: $id) { id } }`;
const ARCHIVE = /* GraphQL */ `mutation($id: ID!) { archiveConversation(id: $id) { id status } }`;

describe('runRetention', () => {
  let t: TestSystem;
  beforeAll(async () => {
    t = await startTestSystem('pglite', { RETENTION_DELETED_DAYS: '0', RETENTION_ARCHIVED_DAYS: '0' });
  }, START_TIMEOUT_MS);
  afterAll(() => t?.stop());

  it('reports what is due when dry, purges it when not, and leaves the rest', async () => {
    const admin = await t.signUpAdmin();
    const deleted = await startChat(t, { name: 'Purged' });
    const { user } = deleted;
    const archived = await startChat(t, { user });
    const live = await startChat(t, { user });
    const sent = await sendOk(t, user.token, deleted.conversationId, 'Soon gone');
    await waitForEnd(t, user.token, sent.reply.id);
    const deletedCount = (await conversation(t, user.token, deleted.conversationId)).messageCount;
    const archivedCount = (await conversation(t, user.token, archived.conversationId)).messageCount;
    const liveBefore = await conversation(t, user.token, live.conversationId);
    expectOk(await t.gql(DELETE, { id: deleted.conversationId }, user.token));
    expectOk(await t.gql(ARCHIVE, { id: archived.conversationId }, user.token));

    expectError(await t.gql(RUN, { dry: true }, user.token), ErrorCode.FORBIDDEN);
    expectError(await t.gql(RUN, { dry: true }), ErrorCode.UNAUTHENTICATED);

    // Dry (the default): counted, nothing changes; the deleted conversation can still come back.
    const due = { conversationsPurged: 1, messagesPurged: deletedCount + archivedCount };
    expect(expectOk(await t.gql(RUN, {}, admin.token)).runRetention).toEqual({ ...due, dryRun: true });
    expect(expectOk(await t.gql(RUN, { dry: true }, admin.token)).runRetention).toEqual({ ...due, dryRun: true });
    expect((await conversation(t, user.token, archived.conversationId)).messageCount).toBe(archivedCount);
    expectOk(await t.gql(RESTORE, { id: deleted.conversationId }, user.token));
    expect((await conversation(t, user.token, deleted.conversationId)).messageCount).toBe(deletedCount);
    expectOk(await t.gql(DELETE, { id: deleted.conversationId }, user.token));

    // The real run purges exactly that; a second finds nothing.
    expect(expectOk(await t.gql(RUN, { dry: false }, admin.token)).runRetention).toEqual({ ...due, dryRun: false });
    expect(expectOk(await t.gql(RUN, { dry: false }, admin.token)).runRetention).toEqual({ conversationsPurged: 0, messagesPurged: 0, dryRun: false });
    expectError(await t.gql(RESTORE, { id: deleted.conversationId }, user.token), ErrorCode.NOT_FOUND);
    const archivedAfter = await conversation(t, user.token, archived.conversationId);
    expect(archivedAfter).toMatchObject({ status: 'ARCHIVED', messageCount: 0, messages: [] });
    const liveAfter = await conversation(t, user.token, live.conversationId);
    expect(liveAfter.messages.map((m) => m.id)).toEqual(liveBefore.messages.map((m) => m.id));
  });
});
