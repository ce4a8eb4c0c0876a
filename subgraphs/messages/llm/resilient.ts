/**
 * Resilience for any provider: per-phase timeouts (first token, idle gap, total), retries with exponential backoff
 * before the first chunk only, caller cancellation, and a circuit breaker.
 *
 * Abort semantics: when the caller's signal fires, the underlying request is aborted at once and the stream throws
 * {@link LlmAbortError} (`name === 'AbortError'`, `code === 'aborted'`); it never ends with a `done` chunk, and aborts
 * never count as provider failures.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createCircuitBreaker, type BreakerRejection, type BreakerState, type CircuitBreaker } from './breaker';
import { toLlmError } from './errors';
import { LlmAbortError, LlmError, type GenerateRequest, type LlmConfig, type LlmProvider, type StreamChunk } from './types';

/** Upper bound of a single backoff delay. */
export const MAX_RETRY_DELAY_MS = 10_000;
/** Backoff delays vary by ±20% so that many clients do not retry in lockstep. */
export const RETRY_JITTER_RATIO = 0.2;
/** HTTP statuses caused by one particular request (bad input, prompt too large): they say nothing about provider health. */
export const REQUEST_SPECIFIC_STATUSES: ReadonlySet<number> = new Set([400, 413, 422]);

/** The part of {@link LlmConfig} the resilient wrapper uses. */
export type ResilienceConfig = Pick<
  LlmConfig,
  | 'firstTokenTimeoutMs'
  | 'idleTimeoutMs'
  | 'totalTimeoutMs'
  | 'maxRetries'
  | 'retryBaseDelayMs'
  | 'breakerFailureThreshold'
  | 'breakerResetMs'
>;

/** Injectable collaborators (tests, shared breakers). */
export interface ResilienceDeps {
  now?: () => number;
  /** Random source in [0, 1) for backoff jitter. */
  random?: () => number;
  /** Breaker to use instead of a fresh one built from the config. */
  breaker?: CircuitBreaker;
}

/** A provider wrapped with timeouts, retries and a circuit breaker. */
export interface ResilientProvider extends LlmProvider {
  readonly breaker: CircuitBreaker;
  /** Breaker state for admin views: `closed`, `open` or `half-open`. */
  breakerState(): BreakerState;
}

/** Backoff before retry number `attempt` (0-based): `baseMs * 2^attempt`, capped, with jitter. */
export function retryDelayMs(attempt: number, baseMs: number, random: () => number = Math.random): number {
  const exponential = Math.min(MAX_RETRY_DELAY_MS, baseMs * 2 ** attempt);
  return Math.round(exponential * (1 + RETRY_JITTER_RATIO * (2 * random() - 1)));
}

/** Wraps `inner` with the resilience rules of `config`; each wrapper owns its own breaker unless one is injected. */
export function createResilientProvider(
  inner: LlmProvider,
  config: ResilienceConfig,
  deps: ResilienceDeps = {},
): ResilientProvider {
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const breaker =
    deps.breaker ??
    createCircuitBreaker({ failureThreshold: config.breakerFailureThreshold, resetMs: config.breakerResetMs, now });
  const name = inner.name;

  async function* stream(request: GenerateRequest): AsyncGenerator<StreamChunk> {
    const callerSignal = request.signal;
    const deadline = now() + config.totalTimeoutMs;
    let lastError: LlmError | undefined;

    for (let attempt = 0; ; attempt += 1) {
      if (callerSignal?.aborted) throw new LlmAbortError(name, callerSignal.reason);
      const decision = breaker.tryAcquire();
      if (decision.rejection) throw circuitOpenError(name, decision.rejection, lastError);
      const { permit } = decision;

      const controller = new AbortController();
      const forwardAbort = () => controller.abort(callerSignal?.reason);
      callerSignal?.addEventListener('abort', forwardAbort, { once: true });
      let iterator: AsyncIterator<StreamChunk> | undefined;
      let iteratorDone = false;
      const cleanup = () => {
        callerSignal?.removeEventListener('abort', forwardAbort);
        if (iteratorDone) return;
        iteratorDone = true;
        controller.abort();
        // Do not await: a pending next() settles once the abort reaches the request.
        iterator?.return?.().catch(() => undefined);
      };

      let delivered = false;
      try {
        iterator = inner.stream({ ...request, signal: controller.signal })[Symbol.asyncIterator]();
        while (true) {
          const result = await nextWithin(iterator, phaseLimit(delivered), callerSignal);
          if (result.done) {
            iteratorDone = true;
            permit.success();
            return;
          }
          delivered = true;
          if (result.value.type === 'done') {
            permit.success();
            yield result.value;
            return;
          }
          yield result.value;
        }
      } catch (thrown) {
        cleanup();
        const error = toLlmError(thrown, name, callerSignal);
        if (error instanceof LlmAbortError) throw error;
        if (error.status !== undefined && REQUEST_SPECIFIC_STATUSES.has(error.status)) permit.release();
        else permit.failure();
        error.attempts = attempt + 1;
        if (delivered || !error.retryable || attempt >= config.maxRetries) throw error;
        const wait = retryDelayMs(attempt, config.retryBaseDelayMs, random);
        if (now() + wait >= deadline) throw error;
        lastError = error;
        try {
          await sleep(wait, undefined, { signal: callerSignal });
        } catch (abort) {
          throw new LlmAbortError(name, abort);
        }
      } finally {
        cleanup();
        permit.release();
      }
    }

    /** How long the next chunk may take, and which error a timeout raises. */
    function phaseLimit(delivered: boolean): { ms: number; timeoutError: () => LlmError } {
      const remaining = deadline - now();
      const phaseMs = delivered ? config.idleTimeoutMs : config.firstTokenTimeoutMs;
      if (remaining < phaseMs) {
        return {
          ms: Math.max(0, remaining),
          timeoutError: () =>
            new LlmError(`${name} provider exceeded the total time limit of ${config.totalTimeoutMs} ms`, {
              code: 'total-timeout',
              retryable: false,
              provider: name,
            }),
        };
      }
      return {
        ms: phaseMs,
        timeoutError: () =>
          delivered
            ? new LlmError(`${name} provider stalled mid-reply (no new tokens for ${phaseMs} ms)`, {
                code: 'idle-timeout',
                retryable: true,
                provider: name,
              })
            : new LlmError(`${name} provider timed out before the first token (nothing within ${phaseMs} ms)`, {
                code: 'first-token-timeout',
                retryable: true,
                provider: name,
              }),
      };
    }
  }

  /** Resolves with the iterator's next result, or rejects on timeout or caller abort, whichever comes first. */
  function nextWithin<T>(
    iterator: AsyncIterator<T>,
    limit: { ms: number; timeoutError: () => LlmError },
    signal: AbortSignal | undefined,
  ): Promise<IteratorResult<T>> {
    const next = iterator.next();
    next.catch(() => undefined); // a late rejection after a timeout or abort is expected and irrelevant
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(new LlmAbortError(name, signal.reason));
        return;
      }
      const settle = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        settle();
        reject(new LlmAbortError(name, signal?.reason));
      };
      const timer = setTimeout(() => {
        settle();
        reject(limit.timeoutError());
      }, limit.ms);
      signal?.addEventListener('abort', onAbort, { once: true });
      next.then(
        (value) => {
          settle();
          resolve(value);
        },
        (error: unknown) => {
          settle();
          reject(error);
        },
      );
    });
  }

  // Listing models is the catalogue's health check: it bypasses the breaker, which guards replies.
  const listModels = inner.listModels?.bind(inner);
  return { name, stream, breaker, breakerState: () => breaker.state(), ...(listModels ? { listModels } : {}) };
}

function circuitOpenError(provider: string, rejection: BreakerRejection, cause: LlmError | undefined): LlmError {
  const why =
    rejection.state === 'open'
      ? `after ${rejection.consecutiveFailures} consecutive failures; next trial in ${Math.ceil(rejection.retryInMs / 1000)} s`
      : 'while a trial request checks whether it has recovered';
  return new LlmError(`${provider} provider is temporarily unavailable (circuit breaker ${rejection.state} ${why})`, {
    code: 'circuit-open',
    retryable: false,
    provider,
    cause,
  });
}
