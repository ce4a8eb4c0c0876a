/**
 * Two providers at once (LLM_CONFIG): an OpenAI-compatible local server and an Anthropic-format API, each a local
 * fake speaking its wire format. The catalogue lists their models from their own endpoints, settings are checked
 * against it, each model is charged at its price, and a provider that is down hands its replies to its fallback.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startFakeLlm, type FakeLlmServer } from '../support/fake-llm';
import { startTestSystem, type TestSystem } from '../support/system';
import { expectError, expectOk } from '../e2e/helpers';
import { START_TIMEOUT_MS, sendOk, waitForEnd, waitUntil, type User } from './helpers';

const PROVIDERS = /* GraphQL */ `{ llmProviders { id kind name status models { id contextWindowTokens creditsPerPromptToken creditsPerCompletionToken provider { id } } } }`;
const START = /* GraphQL */ `mutation($c: ID!, $settings: ConversationSettingsInput) {
  startConversation(input: { characterId: $c, settings: $settings }) { id settings { provider model contextWindowTokens } }
}`;
const UPDATE = /* GraphQL */ `mutation($id: ID!, $settings: ConversationSettingsInput!) { updateConversation(id: $id, settings: $settings) { settings { provider model } } }`;
const VALIDATE = /* GraphQL */ `mutation($settings: ConversationSettingsInput!) { validateLlmSettings(settings: $settings) { ok error latencyMs } }`;
const LEDGER = /* GraphQL */ `{ me { credits creditLedger(first: 50) { edges { node { kind amount replyId } } } } }`;

/** Prompt tokens and completion pieces every fake reply reports. */
const PROMPT_TOKENS = 40;
const TOKENS = ['Fine', ' weather', ' today', '.'];

describe('a catalogue of two providers with prices and a fallback', () => {
  let local: FakeLlmServer;
  let cloud: FakeLlmServer;
  let t: TestSystem;
  let user: User;
  let characterId: string;
  let folder: string;

  beforeAll(async () => {
    local = await startFakeLlm({ tokens: TOKENS, promptTokens: PROMPT_TOKENS, models: ['llama-8b', 'qwen-7b'] });
    cloud = await startFakeLlm({ tokens: TOKENS, promptTokens: PROMPT_TOKENS, models: ['claude-listed'], apiKey: 'sk-cloud-operator' });
    folder = mkdtempSync(join(tmpdir(), 'llm-config-'));
    const file = join(folder, 'llm.yaml');
    writeFileSync(
      file,
      [
        'providers:',
        '  - id: local',
        '    kind: openai',
        `    baseUrl: ${local.baseUrl}`,
        '    creditsPerPromptToken: 0.5',
        '    creditsPerCompletionToken: 1',
        '    fallback: cloud',
        '  - id: cloud',
        '    kind: anthropic',
        '    name: Cloud API',
        `    baseUrl: ${cloud.url}`,
        '    apiKeyEnv: CLOUD_API_KEY',
        '    models:',
        '      - id: claude-premium',
        '        contextWindowTokens: 200000',
        '        creditsPerPromptToken: 2',
        '        creditsPerCompletionToken: 10',
      ].join('\n'),
    );
    t = await startTestSystem('pglite', {
      LLM_CONFIG: file,
      CLOUD_API_KEY: 'sk-cloud-operator',
      LLM_MODELS_REFRESH_MS: '200',
      LLM_BREAKER_FAILURES: '1',
      LLM_BREAKER_RESET_MS: '600000',
      LLM_MAX_RETRIES: '0',
      RATE_LIMIT_MESSAGES_PER_MINUTE: '1000',
    });
    user = await t.signUp('Picker');
    characterId = expectOk(await t.gql(`mutation { createCharacter(input: { name: "Ada", greeting: "Hello." }) { id } }`, {}, user.token)).createCharacter.id;
    // The catalogue reads each models endpoint in the background: wait until both were read.
    await waitUntil(async () => (await providers()).every((p: any) => p.models.length > 1), 10_000, 'both models endpoints listed');
  }, START_TIMEOUT_MS);

  afterAll(async () => {
    await t?.stop();
    await local?.close();
    await cloud?.close();
    if (folder) rmSync(folder, { recursive: true, force: true });
  }, START_TIMEOUT_MS);

  const providers = async () => expectOk(await t.gql(PROVIDERS, {}, user.token)).llmProviders;

  const chargedFor = (replyId: string) => chargedForUser(user.token, replyId);

  async function chargedForUser(token: string, replyId: string): Promise<number> {
    let entries: any[] = [];
    await waitUntil(async () => {
      entries = expectOk(await t.gql(LEDGER, {}, token)).me.creditLedger.edges.map((e: any) => e.node).filter((n: any) => n.replyId === replyId);
      return entries.some((n) => n.kind === 'SETTLE' || n.kind === 'RELEASE');
    }, 20_000, `the settlement of ${replyId}`);
    return -entries.reduce((sum, n) => sum + n.amount, 0);
  }

  it('lists each provider with the models its own endpoint lists (OpenAI and Anthropic formats) and the configured ones, priced', async () => {
    const [localProvider, cloudProvider] = await providers();
    expect(localProvider).toMatchObject({ id: 'local', kind: 'OPENAI_COMPATIBLE', name: 'local', status: 'UP' });
    expect(localProvider.models).toEqual([
      { id: 'llama-8b', contextWindowTokens: null, creditsPerPromptToken: 0.5, creditsPerCompletionToken: 1, provider: { id: 'local' } },
      { id: 'qwen-7b', contextWindowTokens: null, creditsPerPromptToken: 0.5, creditsPerCompletionToken: 1, provider: { id: 'local' } },
    ]);
    expect(cloudProvider).toMatchObject({ id: 'cloud', kind: 'ANTHROPIC', name: 'Cloud API', status: 'UP' });
    expect(cloudProvider.models.map((m: any) => [m.id, m.creditsPerPromptToken, m.creditsPerCompletionToken, m.contextWindowTokens])).toEqual([
      ['claude-premium', 2, 10, 200000],
      ['claude-listed', 1, 1, null],
    ]);
    // Each was asked in its own format; the cloud fake answers only its operator's key (from CLOUD_API_KEY), so that was sent.
    expect(local.modelListings.length).toBeGreaterThan(0);
    expect(cloud.modelListings.at(-1)).toMatchObject({ api: 'anthropic' });
    expectError(await t.gql(`{ llmProviders { id } }`, {}), 'UNAUTHENTICATED');
  });

  it('refuses a provider or a model outside the catalogue, naming the allowed values, and takes the defaults and context window of a model', async () => {
    const unknownProvider = await t.gql(START, { c: characterId, settings: { provider: 'gemini' } }, user.token);
    expectError(unknownProvider, 'BAD_USER_INPUT', 'settings.provider');
    expect(unknownProvider.errors![0].message).toContain('local, cloud');
    const unknownModel = await t.gql(START, { c: characterId, settings: { provider: 'cloud', model: 'gpt-5-ultra' } }, user.token);
    expectError(unknownModel, 'BAD_USER_INPUT', 'settings.model');
    expect(unknownModel.errors![0].message).toContain('claude-premium, claude-listed');

    const byDefault = expectOk(await t.gql(START, { c: characterId }, user.token)).startConversation;
    expect(byDefault.settings).toMatchObject({ provider: 'local', model: 'llama-8b' });
    const premium = expectOk(await t.gql(START, { c: characterId, settings: { provider: 'cloud' } }, user.token)).startConversation;
    expect(premium.settings).toEqual({ provider: 'cloud', model: 'claude-premium', contextWindowTokens: 200000 });

    expectError(await t.gql(UPDATE, { id: byDefault.id, settings: { model: 'claude-premium' } }, user.token), 'BAD_USER_INPUT', 'settings.model');
    expect(expectOk(await t.gql(UPDATE, { id: byDefault.id, settings: { model: 'qwen-7b' } }, user.token)).updateConversation.settings).toEqual({ provider: 'local', model: 'qwen-7b' });
    expect(expectOk(await t.gql(UPDATE, { id: byDefault.id, settings: { provider: 'cloud', model: 'claude-listed' } }, user.token)).updateConversation.settings).toEqual({ provider: 'cloud', model: 'claude-listed' });
  });

  it('charges each reply at its model price, and records the provider and model that answered', async () => {
    const cheap = expectOk(await t.gql(START, { c: characterId, settings: { provider: 'local', model: 'qwen-7b', maxTokens: 100 } }, user.token)).startConversation;
    const dear = expectOk(await t.gql(START, { c: characterId, settings: { provider: 'cloud', model: 'claude-premium', maxTokens: 100 } }, user.token)).startConversation;
    const cheapReply = await waitForEnd(t, user.token, (await sendOk(t, user.token, cheap.id, 'How is the weather?')).reply.id);
    const dearReply = await waitForEnd(t, user.token, (await sendOk(t, user.token, dear.id, 'How is the weather?')).reply.id);
    expect(cheapReply).toMatchObject({ status: 'COMPLETED', provider: 'local', model: 'qwen-7b', content: TOKENS.join('') });
    expect(dearReply).toMatchObject({ status: 'COMPLETED', provider: 'cloud', model: 'claude-premium', content: TOKENS.join('') });
    expect(local.requests.at(-1)).toMatchObject({ api: 'openai', body: { model: 'qwen-7b' } });
    expect(cloud.requests.at(-1)).toMatchObject({ api: 'anthropic', body: { model: 'claude-premium' } });
    expect(await chargedFor(cheapReply.id)).toBe(Math.ceil(PROMPT_TOKENS * 0.5 + TOKENS.length * 1));
    expect(await chargedFor(dearReply.id)).toBe(Math.ceil(PROMPT_TOKENS * 2 + TOKENS.length * 10));
  });

  it('validates settings with one tiny real call: latency when it answers, the provider error when it refuses', async () => {
    const ok = expectOk(await t.gql(VALIDATE, { settings: { provider: 'local', model: 'llama-8b' } }, user.token)).validateLlmSettings;
    expect(ok).toMatchObject({ ok: true, error: null });
    expect(ok.latencyMs).toBeGreaterThanOrEqual(0);
    expect(local.requests.at(-1)!.body).toMatchObject({ model: 'llama-8b', max_tokens: 1 });
    expectError(await t.gql(VALIDATE, { settings: { provider: 'local', model: 'nope' } }, user.token), 'BAD_USER_INPUT', 'settings.model');
    expectError(await t.gql(VALIDATE, { settings: { provider: 'cloud' } }), 'UNAUTHENTICATED');

    cloud.setBehaviour({ failTimes: 1, failStatus: 400 });
    const refused = expectOk(await t.gql(VALIDATE, { settings: { provider: 'cloud', model: 'claude-premium' } }, user.token)).validateLlmSettings;
    expect(refused.ok).toBe(false);
    expect(refused.error).toContain('scripted failure (HTTP 400)');
    // A user's test is outside the provider's breaker: it stays UP.
    expect((await providers()).find((p: any) => p.id === 'cloud').status).toBe('UP');
  });

  it("runs a user's replies on their own key at no charge, never another user's, and fails a reply whose key the provider refuses", async () => {
    const SET_KEY = /* GraphQL */ `mutation($provider: ID!, $key: String!) { setProviderKey(provider: $provider, apiKey: $key) { provider { id name } last4 } }`;
    const owner = await t.signUp('Own key');
    const other = await t.signUp('Operator key');
    expect(expectOk(await t.gql(SET_KEY, { provider: 'local', key: 'sk-user-local-1234' }, owner.token)).setProviderKey).toEqual({ provider: { id: 'local', name: 'local' }, last4: '1234' });
    const character = expectOk(await t.gql(`mutation { createCharacter(input: { name: "Bo", greeting: "Hi." }) { id } }`, {}, owner.token)).createCharacter.id;
    const mine = expectOk(await t.gql(START, { c: character, settings: { provider: 'local', maxTokens: 100 } }, owner.token)).startConversation;
    const theirCharacter = expectOk(await t.gql(`mutation { createCharacter(input: { name: "Cy", greeting: "Hey." }) { id } }`, {}, other.token)).createCharacter.id;
    const theirs = expectOk(await t.gql(START, { c: theirCharacter, settings: { provider: 'local', maxTokens: 100 } }, other.token)).startConversation;
    const before = expectOk(await t.gql(`{ me { credits } }`, {}, owner.token)).me.credits;

    const myReply = await waitForEnd(t, owner.token, (await sendOk(t, owner.token, mine.id, 'On my key.')).reply.id);
    expect(myReply).toMatchObject({ status: 'COMPLETED', provider: 'local' });
    expect(local.requests.at(-1)!.headers.authorization).toBe('Bearer sk-user-local-1234');
    const theirReply = await waitForEnd(t, other.token, (await sendOk(t, other.token, theirs.id, 'On the operator key.')).reply.id);
    expect(theirReply.status).toBe('COMPLETED');
    expect(local.requests.at(-1)!.headers.authorization).not.toContain('sk-user-local');
    await chargedForUser(other.token, theirReply.id);
    // Nothing held, nothing charged on one's own key.
    const ledger = expectOk(await t.gql(LEDGER, {}, owner.token)).me;
    expect(ledger.creditLedger.edges.filter((e: any) => e.node.replyId === myReply.id)).toEqual([]);
    expect(ledger.credits).toBe(before);

    // A key the provider refuses: the reply fails with the provider's own message, and costs nothing.
    expectOk(await t.gql(SET_KEY, { provider: 'cloud', key: 'sk-wrong-key-0000' }, owner.token));
    const dear = expectOk(await t.gql(START, { c: character, settings: { provider: 'cloud', maxTokens: 100 } }, owner.token)).startConversation;
    const refused = await waitForEnd(t, owner.token, (await sendOk(t, owner.token, dear.id, 'On a wrong key.')).reply.id);
    expect(refused.status).toBe('FAILED');
    expect(refused.error).toContain('Incorrect API key provided.');
    expect(expectOk(await t.gql(`{ me { credits } }`, {}, owner.token)).me.credits).toBe(before);
    // The key is never answered, by any field.
    const keys = await t.gql(`{ me { providerKeys { provider { id } last4 } } }`, {}, owner.token);
    expect(JSON.stringify(keys)).not.toContain('sk-user-local');
    expect(keys.data.me.providerKeys).toEqual(expect.arrayContaining([{ provider: { id: 'local' }, last4: '1234' }, { provider: { id: 'cloud' }, last4: '0000' }]));
  });

  it('shows a provider whose models endpoint fails as DOWN, and replies of its conversations come from its fallback', async () => {
    const chat = expectOk(await t.gql(START, { c: characterId, settings: { provider: 'local', maxTokens: 100 } }, user.token)).startConversation;
    local.setBehaviour({ modelsFailStatus: 503 });
    await waitUntil(async () => (await providers()).find((p: any) => p.id === 'local').status === 'DOWN', 10_000, 'local DOWN');
    const before = local.requests.length;
    const reply = await waitForEnd(t, user.token, (await sendOk(t, user.token, chat.id, 'Anyone there?')).reply.id);
    expect(reply).toMatchObject({ status: 'COMPLETED', provider: 'cloud', model: 'claude-premium' });
    expect(local.requests.length).toBe(before);
    // Held at the asked model's price, charged at most that: the fallback's dearer price is capped by the hold.
    expect(await chargedFor(reply.id)).toBeGreaterThan(0);

    local.setBehaviour({ modelsFailStatus: null });
    await waitUntil(async () => (await providers()).find((p: any) => p.id === 'local').status === 'UP', 10_000, 'local UP again');
    const again = await waitForEnd(t, user.token, (await sendOk(t, user.token, chat.id, 'And now?')).reply.id);
    expect(again).toMatchObject({ status: 'COMPLETED', provider: 'local', model: 'llama-8b' });
  });

  it('shows a provider whose breaker opened as CIRCUIT_OPEN, and moves its replies to the fallback', async () => {
    const chat = expectOk(await t.gql(START, { c: characterId, settings: { provider: 'local', maxTokens: 100 } }, user.token)).startConversation;
    local.setBehaviour({ failTimes: 1, failStatus: 500 });
    const failed = await waitForEnd(t, user.token, (await sendOk(t, user.token, chat.id, 'Hello?')).reply.id);
    expect(failed).toMatchObject({ status: 'FAILED', provider: 'local' });
    expect((await providers()).find((p: any) => p.id === 'local').status).toBe('CIRCUIT_OPEN');
    const admin = await t.signUpAdmin();
    const status = expectOk(await t.gql(`{ systemStatus { providers { name defaultModel breakerState } } }`, {}, admin.token)).systemStatus;
    expect(status.providers).toEqual([
      { name: 'local', defaultModel: 'llama-8b', breakerState: 'OPEN' },
      { name: 'cloud', defaultModel: 'claude-premium', breakerState: 'CLOSED' },
    ]);
    const rescued = await waitForEnd(t, user.token, (await sendOk(t, user.token, chat.id, 'Hello again?')).reply.id);
    expect(rescued).toMatchObject({ status: 'COMPLETED', provider: 'cloud', model: 'claude-premium' });
  });
});
