import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_FAKE_BEHAVIOUR, startFakeLlm, type FakeLlmServer } from '../../../test/support/fake-llm';
import { createAnthropicProvider } from './anthropic';
import { createCircuitBreaker } from './breaker';
import { createOpenAiProvider } from './openai';
import { createResilientProvider, retryDelayMs, type ResilienceConfig } from './resilient';
import { LlmAbortError, LlmError, type GenerateRequest, type StreamChunk } from './types';

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
  return { chunks, text, error, done: chunks.find((c) => c.type === 'done') };
}

/** Polls until `check` holds (or fails after `ms`). */
async function eventually(check: () => boolean, ms = 1000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await sleep(5);
  }
}

const FAST: ResilienceConfig = {
  firstTokenTimeoutMs: 250,
  idleTimeoutMs: 250,
  totalTimeoutMs: 3000,
  maxRetries: 2,
  retryBaseDelayMs: 20,
  breakerFailureThreshold: 3,
  breakerResetMs: 200,
};
const noJitter = () => 0.5;
const request = (overrides: Partial<GenerateRequest> = {}): GenerateRequest => ({
  model: 'test-model',
  messages: [{ role: 'user', content: 'Hello?' }],
  temperature: 0.5,
  maxTokens: 32,
  ...overrides,
});
const REPLY = 'Hello from the fake model.';

let server: FakeLlmServer;
beforeAll(async () => {
  server = await startFakeLlm();
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.requests.length = 0;
  server.setBehaviour({ tokens: DEFAULT_FAKE_BEHAVIOUR.tokens, failTimes: 0, failStatus: 500, hangAfterTokens: null, tokenDelayMs: 0, firstTokenDelayMs: 0, headersDelayMs: 0 });
});

const openai = (config: Partial<ResilienceConfig> = {}) =>
  createResilientProvider(createOpenAiProvider({ baseUrl: server.baseUrl }), { ...FAST, ...config }, { random: noJitter });

describe('timeouts and retries', () => {
  it('retries after a first-token timeout (slow headers, slow first token) and then succeeds', async () => {
    server.script({ headersDelayMs: 2000 }, { firstTokenDelayMs: 2000 });
    const started = Date.now();
    const result = await collect(openai().stream(request()));

    expect(result.error).toBeUndefined();
    expect(result.text).toBe(REPLY);
    expect(result.done).toMatchObject({ finishReason: 'stop' });
    expect(server.requests).toHaveLength(3);
    // two timeouts (250 ms each) plus backoff 20 + 40 ms
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    // the timed-out requests were cancelled, not left running
    await eventually(() => server.requests[0].clientDisconnected && server.requests[1].clientDisconnected);
  });

  it('gives up with a readable first-token timeout error after the last retry', async () => {
    server.setBehaviour({ firstTokenDelayMs: 5000 });
    const result = await collect(openai({ maxRetries: 1 }).stream(request()));
    expect(result.error).toBeInstanceOf(LlmError);
    expect(result.error).toMatchObject({ code: 'first-token-timeout', attempts: 2 });
    expect((result.error as Error).message).toMatch(/timed out before the first token/);
    expect(server.requests).toHaveLength(2);
  });

  it('never retries once a token was delivered: a mid-stream stall ends with an idle-timeout error', async () => {
    server.setBehaviour({ hangAfterTokens: 2 });
    const result = await collect(openai().stream(request()));

    expect(result.text).toBe('Hello from');
    expect(result.error).toBeInstanceOf(LlmError);
    expect(result.error).toMatchObject({ code: 'idle-timeout', attempts: 1 });
    expect(server.requests).toHaveLength(1);
    await eventually(() => server.requests[0].clientDisconnected);
  });

  it('enforces the total time limit even while tokens keep flowing', async () => {
    server.setBehaviour({ tokenDelayMs: 100, tokens: Array.from({ length: 20 }, (_, i) => ` w${i}`) });
    const result = await collect(openai({ totalTimeoutMs: 350, idleTimeoutMs: 1000 }).stream(request()));
    expect(result.error).toMatchObject({ code: 'total-timeout', retryable: false });
    expect(result.text.length).toBeGreaterThan(0);
  });

  it('retries HTTP 500 with exponential backoff, then succeeds', async () => {
    server.setBehaviour({ failTimes: 2 });
    const started = Date.now();
    const result = await collect(openai({ retryBaseDelayMs: 60 }).stream(request()));

    expect(result.error).toBeUndefined();
    expect(result.text).toBe(REPLY);
    expect(server.requests).toHaveLength(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(60 + 120 - 5);
  });

  it('does not retry errors that cannot improve (HTTP 400)', async () => {
    server.setBehaviour({ failTimes: 1, failStatus: 400 });
    const result = await collect(openai().stream(request()));
    expect(result.error).toMatchObject({ code: 'http', status: 400, retryable: false, attempts: 1 });
    expect(server.requests).toHaveLength(1);
  });

  it('computes capped exponential backoff with bounded jitter', () => {
    expect([0, 1, 2, 3].map((n) => retryDelayMs(n, 100, noJitter))).toEqual([100, 200, 400, 800]);
    expect(retryDelayMs(30, 100, noJitter)).toBe(10_000);
    expect(retryDelayMs(0, 100, () => 0)).toBe(80);
    expect(retryDelayMs(0, 100, () => 0.999999)).toBe(120);
  });

  it('works the same with the Anthropic SDK (first-token timeout, retry, success)', async () => {
    server.script({ firstTokenDelayMs: 2000 });
    const provider = createResilientProvider(createAnthropicProvider({ baseUrl: server.url, apiKey: 'k' }), FAST);
    const result = await collect(provider.stream(request()));
    expect(result.text).toBe(REPLY);
    expect(result.done).toMatchObject({ finishReason: 'end_turn' });
    expect(server.requests.map((r) => r.path)).toEqual(['/v1/messages', '/v1/messages']);
  });
});

describe('circuit breaker', () => {
  it('opens after N consecutive failures, fails fast without contacting the server, half-opens after the reset time', async () => {
    server.setBehaviour({ failTimes: 1000 });
    const provider = openai({ maxRetries: 0, breakerFailureThreshold: 2, breakerResetMs: 200 });

    expect((await collect(provider.stream(request()))).error).toMatchObject({ code: 'http', status: 500 });
    expect(provider.breakerState()).toBe('closed');
    expect((await collect(provider.stream(request()))).error).toMatchObject({ code: 'http' });
    expect(provider.breakerState()).toBe('open');

    const started = Date.now();
    const fast = await collect(provider.stream(request()));
    expect(fast.error).toBeInstanceOf(LlmError);
    expect(fast.error).toMatchObject({ code: 'circuit-open', retryable: false });
    expect((fast.error as Error).message).toMatch(/circuit breaker open after 2 consecutive failures/);
    expect(Date.now() - started).toBeLessThan(50);
    expect(server.requests).toHaveLength(2);

    await sleep(220);
    expect(provider.breakerState()).toBe('half-open');
    // failed trial: open again at once
    expect((await collect(provider.stream(request()))).error).toMatchObject({ code: 'http' });
    expect(provider.breakerState()).toBe('open');
    expect(server.requests).toHaveLength(3);

    await sleep(220);
    server.setBehaviour({ failTimes: 0 });
    const trial = await collect(provider.stream(request()));
    expect(trial.text).toBe(REPLY);
    expect(provider.breakerState()).toBe('closed');
    expect(provider.breaker.consecutiveFailures()).toBe(0);
  });

  it('stops retrying when the breaker opens in the middle of the retries', async () => {
    server.setBehaviour({ failTimes: 1000 });
    const provider = openai({ maxRetries: 5, breakerFailureThreshold: 2 });
    const result = await collect(provider.stream(request()));
    expect(result.error).toMatchObject({ code: 'circuit-open' });
    expect((result.error as LlmError).cause).toMatchObject({ code: 'http', status: 500 });
    expect(server.requests).toHaveLength(2);
  });

  it('lets exactly one trial call through while half-open', () => {
    let now = 0;
    const breaker = createCircuitBreaker({ failureThreshold: 1, resetMs: 100, now: () => now });
    breaker.tryAcquire().permit?.failure();
    expect(breaker.state()).toBe('open');
    expect(breaker.tryAcquire().rejection).toMatchObject({ state: 'open', retryInMs: 100 });
    now = 100;
    expect(breaker.state()).toBe('half-open');
    const trial = breaker.tryAcquire();
    expect(trial.permit).toBeDefined();
    expect(breaker.tryAcquire().rejection).toMatchObject({ state: 'half-open', retryInMs: 0 });
    trial.permit?.release(); // e.g. the caller aborted: the next call may try again
    const second = breaker.tryAcquire();
    second.permit?.success();
    second.permit?.failure(); // ignored: outcome already reported
    expect(breaker.state()).toBe('closed');
  });
});

describe('abort', () => {
  it('stops mid-stream promptly with LlmAbortError and cancels the HTTP request', async () => {
    server.setBehaviour({ tokenDelayMs: 200, tokens: Array.from({ length: 20 }, (_, i) => ` w${i}`) });
    const controller = new AbortController();
    const provider = openai({ idleTimeoutMs: 1000 });
    const chunks: StreamChunk[] = [];
    let error: unknown;
    let abortedAt = 0;
    try {
      for await (const chunk of provider.stream(request({ signal: controller.signal }))) {
        chunks.push(chunk);
        if (chunks.length === 1) {
          setTimeout(() => {
            abortedAt = Date.now();
            controller.abort();
          }, 20);
        }
      }
    } catch (caught) {
      error = caught;
    }
    expect(Date.now() - abortedAt).toBeLessThan(100);
    expect(error).toBeInstanceOf(LlmAbortError);
    expect(error).toMatchObject({ name: 'AbortError', code: 'aborted' });
    expect(chunks.every((c) => c.type === 'delta')).toBe(true);
    await eventually(() => server.requests[0].clientDisconnected);
    expect(server.requests).toHaveLength(1);
    expect(provider.breakerState()).toBe('closed');
    expect(provider.breaker.consecutiveFailures()).toBe(0);
  });

  it('aborts while waiting for the first token and during backoff without retrying', async () => {
    server.setBehaviour({ firstTokenDelayMs: 5000 });
    const waiting = new AbortController();
    setTimeout(() => waiting.abort(), 30);
    const first = await collect(openai({ firstTokenTimeoutMs: 2000 }).stream(request({ signal: waiting.signal })));
    expect(first.error).toBeInstanceOf(LlmAbortError);
    expect(server.requests).toHaveLength(1);

    server.setBehaviour({ firstTokenDelayMs: 0, failTimes: 1000 });
    const backoff = new AbortController();
    setTimeout(() => backoff.abort(), 100);
    const started = Date.now();
    const second = await collect(openai({ retryBaseDelayMs: 5000, totalTimeoutMs: 20_000 }).stream(request({ signal: backoff.signal })));
    expect(second.error).toBeInstanceOf(LlmAbortError);
    expect(Date.now() - started).toBeLessThan(500);
    expect(server.requests).toHaveLength(2);
  });

  it('skips a retry whose backoff would overrun the total time limit', async () => {
    server.setBehaviour({ failTimes: 1000 });
    const started = Date.now();
    const result = await collect(openai({ retryBaseDelayMs: 5000, totalTimeoutMs: 1000 }).stream(request()));
    expect(result.error).toMatchObject({ code: 'http', status: 500, attempts: 1 });
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('cancels the request when the consumer stops reading early, without counting a failure', async () => {
    server.setBehaviour({ tokenDelayMs: 50 });
    const provider = openai({ breakerFailureThreshold: 1 });
    for await (const chunk of provider.stream(request())) {
      expect(chunk).toEqual({ type: 'delta', text: 'Hello' });
      break;
    }
    await eventually(() => server.requests[0].clientDisconnected);
    expect(provider.breakerState()).toBe('closed');
  });

  it('does not even start when the signal is already aborted', async () => {
    const result = await collect(openai().stream(request({ signal: AbortSignal.abort() })));
    expect(result.error).toBeInstanceOf(LlmAbortError);
    expect(server.requests).toHaveLength(0);
  });
});
