/** Large context windows (128k tokens and more) keep a running summary of the history that fell out. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startFakeLlm, type FakeLlmServer } from '../support/fake-llm';
import { startTestSystem, type TestSystem } from '../support/system';

describe('summary-buffer prompts for windows of 128k tokens', () => {
  let t: TestSystem;
  let llm: FakeLlmServer;
  beforeAll(async () => {
    llm = await startFakeLlm({ tokens: ['Noted', '.'], tokenDelayMs: 0 });
    // Each reply holds up to its ~127k-token prompt in credits: more than a new user's 100,000.
    t = await startTestSystem('postgres', { LLM_PROVIDER: 'openai', LLM_BASE_URL: llm.baseUrl, INITIAL_CREDITS: '10000000' });
  });
  afterAll(async () => {
    await t?.stop();
    await llm?.close();
  });

  it('summarises the messages that no longer fit, once, and puts the summary in the prompt', async () => {
    const me = await t.signUp();
    const character = await t.gql(`mutation { createCharacter(input: { name: "Archivist" }) { id } }`, {}, me.token);
    const started = await t.gql(
      `mutation($c: ID!) { startConversation(input: { characterId: $c, settings: { contextWindowTokens: 128000, maxTokens: 1000 } }) { id } }`,
      { c: character.data.createCharacter.id },
      me.token,
    );
    const id = started.data.startConversation.id;
    // Fourteen long messages (about 10k tokens each) overflow a 127k-token budget.
    for (let i = 0; i < 14; i += 1) {
      const content = `chapter ${i}: ` + 'the quick brown fox jumps over the lazy dog '.repeat(1100);
      const sent = await t.gql(`mutation($id: ID!, $c: String!) { sendMessage(input: { conversationId: $id, content: $c }) { reply { id } } }`, { id, c: content }, me.token);
      expect(sent.errors).toBeUndefined();
      const replyId = sent.data.sendMessage.reply.id;
      for (let tries = 0; tries < 200; tries += 1) {
        const status = (await t.gql(`query($id: ID!) { message(id: $id) { status } }`, { id: replyId }, me.token)).data.message.status;
        if (status !== 'PENDING' && status !== 'STREAMING') break;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const summaryRequests = () => llm.requests.filter((r) => JSON.stringify((r.body as any).messages).includes('chapter 0')).filter((r) => (r.body as any).messages.length <= 2);
    expect(summaryRequests().length).toBe(1);
    const preview = await t.gql(
      `query($id: ID!) { promptPreview(conversationId: $id) { strategy droppedMessages totalTokens budgetTokens parts { kind role tokens content } } }`,
      { id },
      me.token,
    );
    expect(preview.errors).toBeUndefined();
    const prompt = preview.data.promptPreview;
    expect(prompt.strategy).toBe('summary-buffer');
    expect(prompt.droppedMessages).toBeGreaterThan(0);
    expect(prompt.totalTokens).toBeLessThanOrEqual(prompt.budgetTokens);
    const summary = prompt.parts.find((p: any) => p.kind === 'summary');
    expect(summary.content).toContain('Noted.');
    expect(summary.tokens).toBeGreaterThan(0);
    // The preview reused the stored summary: no new summarisation request.
    expect(summaryRequests().length).toBe(1);
  });
});
