import type { LlmProviderConfig } from '@chat/shared/llm-config';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { startFakeLlm, type FakeLlmServer } from '../../../test/support/fake-llm';
import { createAnthropicProvider, CONVERSATION_START_PLACEHOLDER, toAnthropicPrompt } from './anthropic';
import { createLlmProvider } from './index';
import { createOfflineProvider, OFFLINE_NOTICE } from './offline';
import { createOpenAiProvider } from './openai';
import { buildSystemMessage } from './prompt';
import { countMessageTokens, countTokens } from './tokens';
import { LlmAbortError, LlmError, type ChatMessage, type GenerateRequest, type LlmConfig, type StreamChunk } from './types';

/** Drains a stream into its text, its chunks and the error it ended with (if any). */
async function collect(stream: AsyncIterable<StreamChunk>) {
  const chunks: StreamChunk[] = [];
  let error: unknown;
  try {
    for await (const chunk of stream) chunks.push(chunk);
  } catch (caught) {
    error = caught;
  }
  const text = chunks.map((c) => (c.type === 'delta' ? c.text : '')).join('');
  const done = chunks.find((c) => c.type === 'done');
  return { chunks, text, done, error };
}

const messages: ChatMessage[] = [
  { role: 'system', content: 'You are Aria, a ship AI.' },
  { role: 'user', content: 'Status report?' },
];
const request = (overrides: Partial<GenerateRequest> = {}): GenerateRequest => ({
  model: 'test-model-7b',
  messages,
  temperature: 0.7,
  maxTokens: 64,
  ...overrides,
});

let server: FakeLlmServer;
beforeAll(async () => {
  server = await startFakeLlm();
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.requests.length = 0;
  server.setBehaviour({ tokens: ['All', ' systems', ' nominal', '.'], failTimes: 0, finishReason: null, promptTokens: 17 });
});

describe('openai provider (real openai SDK against the fake server)', () => {
  it('streams deltas, then done with finish reason and usage, sending model, messages and stream options', async () => {
    const provider = createOpenAiProvider({ baseUrl: server.baseUrl });
    const result = await collect(provider.stream(request()));

    expect(result.error).toBeUndefined();
    expect(result.chunks.filter((c) => c.type === 'delta')).toHaveLength(4);
    expect(result.text).toBe('All systems nominal.');
    expect(result.chunks.at(-1)).toEqual({
      type: 'done',
      finishReason: 'stop',
      usage: { promptTokens: 17, completionTokens: 4, totalTokens: 21 },
    });
    expect(server.requests).toHaveLength(1);
    const [sent] = server.requests;
    expect(sent.path).toBe('/v1/chat/completions');
    expect(sent.body).toMatchObject({
      model: 'test-model-7b',
      messages,
      temperature: 0.7,
      max_tokens: 64,
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(sent.headers.authorization).toBe('Bearer lm-studio');
  });

  it('reports the provider finish reason (length)', async () => {
    server.setBehaviour({ finishReason: 'length' });
    const result = await collect(createOpenAiProvider({ baseUrl: server.baseUrl }).stream(request()));
    expect(result.done).toMatchObject({ type: 'done', finishReason: 'length' });
  });

  it('turns HTTP errors into LlmError with status and retryability', async () => {
    const provider = createOpenAiProvider({ baseUrl: server.baseUrl, apiKey: 'sk-test' });
    server.script({ failTimes: 1, failStatus: 401 }, { failTimes: 1, failStatus: 503 });
    const unauthorized = await collect(provider.stream(request()));
    expect(unauthorized.error).toBeInstanceOf(LlmError);
    expect(unauthorized.error).toMatchObject({ code: 'http', status: 401, retryable: false, provider: 'openai' });
    expect((unauthorized.error as Error).message).toMatch(/HTTP 401/);
    const unavailable = await collect(provider.stream(request()));
    expect(unavailable.error).toMatchObject({ code: 'http', status: 503, retryable: true });
  });

  it('reports an unreachable server as a retryable network error', async () => {
    const closed = await startFakeLlm();
    await closed.close();
    const result = await collect(createOpenAiProvider({ baseUrl: closed.baseUrl }).stream(request()));
    expect(result.error).toMatchObject({ code: 'network', retryable: true });
  });
});

describe('anthropic provider (real @anthropic-ai/sdk against the fake server)', () => {
  it('streams deltas, then done with stop reason and usage from message_start/message_delta', async () => {
    const provider = createAnthropicProvider({ baseUrl: server.url, apiKey: 'test-key' });
    const result = await collect(provider.stream(request()));

    expect(result.error).toBeUndefined();
    expect(result.text).toBe('All systems nominal.');
    expect(result.chunks.at(-1)).toEqual({
      type: 'done',
      finishReason: 'end_turn',
      usage: { promptTokens: 17, completionTokens: 4, totalTokens: 21 },
    });
    const [sent] = server.requests;
    expect(sent.path).toBe('/v1/messages');
    expect(sent.body).toEqual({
      model: 'test-model-7b',
      max_tokens: 64,
      system: 'You are Aria, a ship AI.',
      messages: [{ role: 'user', content: 'Status report?' }],
      stream: true,
    });
    // SDK 1.x speaks API version 2026-10-21, which rejects sampling parameters.
    expect(sent.headers['anthropic-version']).toBe('2026-10-21');
  });

  it('accepts a base URL ending in /v1 and reports max_tokens stops', async () => {
    server.setBehaviour({ finishReason: 'max_tokens' });
    const provider = createAnthropicProvider({ baseUrl: server.baseUrl, apiKey: 'test-key' });
    const result = await collect(provider.stream(request()));
    expect(result.done).toMatchObject({ finishReason: 'max_tokens' });
    expect(server.requests[0].path).toBe('/v1/messages');
  });

  it('maps Anthropic error bodies to LlmError', async () => {
    server.script({ failTimes: 1, failStatus: 529 });
    const result = await collect(createAnthropicProvider({ baseUrl: server.url, apiKey: 'k' }).stream(request()));
    expect(result.error).toMatchObject({ code: 'http', status: 529, retryable: true, provider: 'anthropic' });
  });

  it('converts chat messages to the Messages API rules', () => {
    expect(
      toAnthropicPrompt([
        { role: 'system', content: 'Be Aria.' },
        { role: 'system', content: 'Summary of earlier conversation: docked.' },
        { role: 'assistant', content: 'Welcome aboard!' },
        { role: 'user', content: 'Hi.' },
        { role: 'user', content: 'Anyone there?' },
        { role: 'assistant', content: '   ' },
        { role: 'assistant', content: 'Yes. ' },
      ]),
    ).toEqual({
      system: 'Be Aria.\n\nSummary of earlier conversation: docked.',
      messages: [
        { role: 'user', content: CONVERSATION_START_PLACEHOLDER },
        { role: 'assistant', content: 'Welcome aboard!' },
        { role: 'user', content: 'Hi.\n\nAnyone there?' },
        { role: 'assistant', content: 'Yes.' },
      ],
    });
    expect(toAnthropicPrompt([{ role: 'system', content: 'Only a system prompt.' }])).toEqual({
      system: 'Only a system prompt.',
      messages: [{ role: 'user', content: CONVERSATION_START_PLACEHOLDER }],
    });
  });
});

describe('offline provider', () => {
  const system = buildSystemMessage({ name: 'Captain Mira', description: 'A starship captain.' });
  const prompt: ChatMessage[] = [system, { role: 'user', content: 'Where are we headed next, captain?' }];

  it('streams a deterministic in-character reply word by word that says it is offline', async () => {
    const provider = createOfflineProvider({ wordDelayMs: 1 });
    const first = await collect(provider.stream(request({ messages: prompt, maxTokens: 500 })));
    const second = await collect(provider.stream(request({ messages: prompt, maxTokens: 500 })));

    expect(first.error).toBeUndefined();
    expect(first.text).toBe(second.text);
    expect(first.text).toContain('Captain Mira');
    expect(first.text).toContain('Where are we headed next, captain?');
    expect(first.text.endsWith(OFFLINE_NOTICE)).toBe(true);
    expect(first.chunks.filter((c) => c.type === 'delta').length).toBe(first.text.split(' ').length);
    expect(first.done).toEqual({
      type: 'done',
      finishReason: 'stop',
      usage: {
        promptTokens: countMessageTokens(prompt),
        completionTokens: countTokens(first.text),
        totalTokens: countMessageTokens(prompt) + countTokens(first.text),
      },
    });
  });

  it('cuts the reply at maxTokens with finish reason length', async () => {
    const result = await collect(createOfflineProvider({ wordDelayMs: 0 }).stream(request({ messages: prompt, maxTokens: 5 })));
    expect(result.done).toMatchObject({ finishReason: 'length' });
    expect(countTokens(result.text)).toBeLessThanOrEqual(5);
  });

  it('stops with LlmAbortError when aborted', async () => {
    const controller = new AbortController();
    const provider = createOfflineProvider({ wordDelayMs: 1000 });
    const started = Date.now();
    const pending = collect(provider.stream(request({ messages: prompt, maxTokens: 500, signal: controller.signal })));
    setTimeout(() => controller.abort(), 20);
    const result = await pending;
    expect(result.error).toBeInstanceOf(LlmAbortError);
    expect(Date.now() - started).toBeLessThan(500);
    expect(result.done).toBeUndefined();
  });
});

describe('createLlmProvider', () => {
  const base: LlmConfig = {
    providers: [],
    defaultProvider: 'openai',
    modelsRefreshMs: 60_000,
    firstTokenTimeoutMs: 1000,
    idleTimeoutMs: 1000,
    totalTimeoutMs: 5000,
    maxRetries: 1,
    retryBaseDelayMs: 10,
    breakerFailureThreshold: 3,
    breakerResetMs: 1000,
  };

  const price = { creditsPerPromptToken: 1, creditsPerCompletionToken: 1 };
  const provider = (id: string, kind: LlmProviderConfig['kind'], more: Partial<LlmProviderConfig> = {}): LlmProviderConfig => ({ id, kind, name: id, models: [], price, ...more });

  it('builds each configured provider, named by its id, wrapped with a breaker', async () => {
    const openai = createLlmProvider(provider('local', 'openai', { baseUrl: server.baseUrl }), base);
    expect(openai.name).toBe('local');
    expect(openai.breakerState()).toBe('closed');
    expect((await collect(openai.stream(request()))).text).toBe('All systems nominal.');

    const anthropic = createLlmProvider(provider('cloud', 'anthropic', { baseUrl: server.url, apiKey: 'k' }), base);
    expect((await collect(anthropic.stream(request()))).text).toBe('All systems nominal.');

    const offline = createLlmProvider(provider('demo', 'offline'), { ...base, offlineWordDelayMs: 0 });
    expect((await collect(offline.stream(request()))).text).toContain(OFFLINE_NOTICE);
  });
});
