import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startFakeLlm, type FakeLlmServer } from '../support/fake-llm';
import { startTestSystem, type TestSystem } from '../support/system';
import { collect, wsClient } from '../support/ws';

const EVENTS = /* GraphQL */ `
  subscription($id: ID!) {
    conversationEvents(conversationId: $id) {
      kind messageId delta sequence error
      message { id role status content author { displayName } conversation { title character { name } } tokenUsage { totalTokens } }
    }
  }`;
const SEND = /* GraphQL */ `
  mutation($input: SendMessageInput!) { sendMessage(input: $input) { message { id role content status author { displayName } } reply { id role status } } }`;

describe('live chat through the gateway (OpenAI wire format)', () => {
  let t: TestSystem;
  let llm: FakeLlmServer;
  let user: Awaited<ReturnType<TestSystem['signUp']>>;
  let conversationId: string;

  beforeAll(async () => {
    llm = await startFakeLlm({ tokens: ['Elementary', ', my', ' dear', ' friend', '.'], tokenDelayMs: 20 });
    t = await startTestSystem('pglite', { LLM_PROVIDER: 'openai', LLM_BASE_URL: llm.baseUrl, LLM_MODEL: 'test-model', REPLY_FLUSH_INTERVAL_MS: '10' });
    user = await t.signUp('Watson');
    const character = await t.gql(`mutation { createCharacter(input: { name: "Sherlock", personality: "Observant", greeting: "Come in." }) { id } }`, {}, user.token);
    const started = await t.gql(`mutation($c: ID!) { startConversation(input: { characterId: $c, title: "Baker Street" }) { id } }`, { c: character.data.createCharacter.id }, user.token);
    conversationId = started.data.startConversation.id;
  });
  afterAll(async () => {
    await t?.stop();
    await llm?.close();
  });

  it('streams a reply token by token, with cross-subgraph fields resolved in events', async () => {
    const client = wsClient(t.gatewayUrl, user.token);
    const sub = collect<any>(client, EVENTS, { id: conversationId }, 'conversationEvents');
    await new Promise((r) => setTimeout(r, 300));
    const sent = await t.gql(SEND, { input: { conversationId, content: 'Whose footprints are these?' } }, user.token);
    expect(sent.errors).toBeUndefined();
    expect(sent.data.sendMessage.message).toMatchObject({ role: 'USER', content: 'Whose footprints are these?', status: 'COMPLETED', author: { displayName: 'Watson' } });
    expect(['PENDING', 'STREAMING']).toContain(sent.data.sendMessage.reply.status);
    const replyId = sent.data.sendMessage.reply.id;
    const events = await sub.until((es) => es.some((e) => e.kind === 'REPLY_COMPLETED'));
    const deltas = events.filter((e) => e.kind === 'REPLY_DELTA' && e.messageId === replyId);
    expect(deltas.map((d) => d.sequence)).toEqual([0, 1, 2, 3, 4]);
    expect(deltas.map((d) => d.delta).join('')).toBe('Elementary, my dear friend.');
    const completed = events.find((e) => e.kind === 'REPLY_COMPLETED')!;
    expect(completed.message).toMatchObject({ id: replyId, status: 'COMPLETED', content: 'Elementary, my dear friend.', conversation: { title: 'Baker Street', character: { name: 'Sherlock' } } });
    expect(completed.message.tokenUsage.totalTokens).toBeGreaterThan(0);
    const created = events.filter((e) => e.kind === 'MESSAGE_CREATED');
    expect(created[0].message.author).toEqual({ displayName: 'Watson' });
    // The provider got the model asked for and the persona in the system prompt.
    const request = llm.requests.at(-1)!.body as any;
    expect(request.model).toBe('test-model');
    expect(request.messages[0].role).toBe('system');
    expect(request.messages[0].content).toContain('Observant');
    expect(request.messages.at(-1)).toEqual({ role: 'user', content: 'Whose footprints are these?' });
    // What a later query returns is what the last event said.
    const stored = await t.gql(`query($id: ID!) { conversation(id: $id) { messageCount lastMessage { id content status finishReason model provider latencyMs completedAt } } }`, { id: conversationId }, user.token);
    expect(stored.data.conversation.messageCount).toBe(3);
    expect(stored.data.conversation.lastMessage).toMatchObject({ id: replyId, content: 'Elementary, my dear friend.', status: 'COMPLETED', finishReason: 'stop', model: 'test-model', provider: 'openai' });
    sub.stop();
    await client.dispose();
  });
});
