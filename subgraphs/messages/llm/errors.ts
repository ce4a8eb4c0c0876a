/**
 * Translates errors thrown by the provider SDKs (openai, @anthropic-ai/sdk) and by fetch into {@link LlmError}.
 * Both SDKs share the same error shapes (`APIError` with `status`, `APIConnectionError`, `APIUserAbortError`),
 * so classification is structural and needs neither SDK.
 */
import { LlmAbortError, LlmError, isAbortError } from './types';

/** HTTP statuses worth another attempt (the SDKs' own retry policy): timeout, conflict, rate limit, server errors. */
export const RETRYABLE_HTTP_STATUSES: ReadonlySet<number> = new Set([408, 409, 425, 429]);
/** Every status from here up is a server error and retryable. */
export const FIRST_SERVER_ERROR_STATUS = 500;

/** Whether an HTTP error status may succeed when tried again. */
export function isRetryableStatus(status: number): boolean {
  return status >= FIRST_SERVER_ERROR_STATUS || RETRYABLE_HTTP_STATUSES.has(status);
}

/** Converts anything a provider SDK threw into an LlmError (or LlmAbortError when the request was aborted). */
export function toLlmError(error: unknown, provider: string, signal?: AbortSignal): LlmError {
  if (error instanceof LlmError) return error;
  if (signal?.aborted || isAbortError(error) || errorName(error) === 'APIUserAbortError') {
    return new LlmAbortError(provider, error);
  }
  const message = error instanceof Error ? error.message : String(error);
  const status = (error as { status?: unknown } | null)?.status;
  if (typeof status === 'number') {
    return new LlmError(`${provider} provider answered HTTP ${status}: ${message}`, {
      code: 'http',
      status,
      retryable: isRetryableStatus(status),
      provider,
      cause: error,
    });
  }
  const name = errorName(error);
  if (name === 'APIConnectionError' || name === 'APIConnectionTimeoutError' || error instanceof TypeError) {
    return new LlmError(`could not reach the ${provider} provider: ${message}`, {
      code: 'network',
      retryable: true,
      provider,
      cause: error,
    });
  }
  return new LlmError(`${provider} provider failed: ${message}`, { code: 'provider', retryable: true, provider, cause: error });
}

function errorName(error: unknown): string | undefined {
  return error instanceof Error ? error.constructor.name || error.name : undefined;
}
