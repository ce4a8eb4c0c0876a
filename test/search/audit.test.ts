/**
 * Admin actions are audited through the gateway: grants (users), the moderation policy, the usage report and reading
 * another user's conversation (messages) each count once in their subgraph's /metrics; a user's own reads never do.
 * (The line each writes is checked in packages/shared/src/audit.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AUDIT_METRIC } from '@chat/shared/audit';
import { START_TIMEOUT_MS, startChat, type Chat } from '../chat/helpers';
import { startTestSystem, type TestSystem } from '../support/system';
import { ok } from './helpers';

const READ = /* GraphQL */ `query($id: ID!) { conversation(id: $id) { messageCount lastMessage { id } messages(first: 10) { edges { node { id } } } } }`;

describe('audit of admin actions', () => {
  let t: TestSystem;
  let chat: Chat;
  let admin: { token: string; id: string };

  beforeAll(async () => {
    t = await startTestSystem('pglite');
    chat = await startChat(t, { name: 'Audited' });
    admin = await t.signUpAdmin();
  }, START_TIMEOUT_MS);
  afterAll(async () => {
    await t?.stop();
  }, START_TIMEOUT_MS);

  /** The audit counter of one action in a subgraph's /metrics (0 before the first). */
  async function counted(subgraph: 'users' | 'messages', action: string): Promise<number> {
    const text = await (await fetch(new URL('/metrics', t.system.subgraphs[subgraph].url))).text();
    const line = text.split('\n').find((l) => l.startsWith(`${AUDIT_METRIC}{`) && l.includes(`action="${action}"`));
    return line ? Number(line.split(' ').at(-1)) : 0;
  }

  it('counts grants, policy changes, usage reports and reads of other users’ conversations, once each', async () => {
    await ok(t, `mutation($id: ID!) { grantCredits(userId: $id, amount: 5, reason: "audit test") { id } }`, { id: chat.user.id }, admin.token);
    expect(await counted('users', 'grantCredits')).toBe(1);
    await ok(t, `mutation { setModerationPolicy(refuse: [SPAM]) { refuse } }`, {}, admin.token);
    expect(await counted('messages', 'setModerationPolicy')).toBe(1);
    await ok(t, `{ usageReport(groupBy: DAY) { key } }`, {}, admin.token);
    expect(await counted('messages', 'usageReport')).toBe(1);

    // The owner's reads are not admin actions; an admin's read of the conversation is one, however many fields it reads.
    await ok(t, READ, { id: chat.conversationId }, chat.user.token);
    expect(await counted('messages', 'readConversation')).toBe(0);
    await ok(t, READ, { id: chat.conversationId }, admin.token);
    expect(await counted('messages', 'readConversation')).toBe(1);
    await ok(t, `query($id: ID!, $f: ConversationExportFormat!) { exportConversation(id: $id, format: $f) { filename } }`, { id: chat.conversationId, f: 'MARKDOWN' }, admin.token);
    expect(await counted('messages', 'readConversation')).toBe(2);
    // A refused attempt is no action.
    const refused = await t.gql(`mutation { setModerationPolicy(refuse: []) { refuse } }`, {}, chat.user.token);
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(await counted('messages', 'setModerationPolicy')).toBe(1);
  });
});
