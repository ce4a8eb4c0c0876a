import type { Config } from '@chat/shared/config';

/**
 * Shared types of the messages subgraph's LLM layer: chat messages, streaming chunks,
 * the provider contract, configuration and the single error type every provider throws.
 */

/** Role of a chat message as the LLM APIs name it. */
export type ChatRole = 'system' | 'user' | 'assistant';

/** One chat message sent to (or produced by) a model. */
export interface ChatMessage {
  role: ChatRole;
  content: string;
}

/** Token accounting reported by a provider (or computed locally by the offline provider). */
export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

/** One generation request; `signal` cancels it (see {@link LlmAbortError}). */
export interface GenerateRequest {
  model: string;
  messages: ChatMessage[];
  temperature: number;
  maxTokens: number;
  signal?: AbortSignal;
}

/**
 * A piece of a streamed reply: text deltas, then exactly one `done` chunk on success.
 * `finishReason` is the provider's own value (OpenAI: `stop`/`length`/…, Anthropic: `end_turn`/`max_tokens`/…).
 */
export type StreamChunk =
  | { type: 'delta'; text: string }
  | { type: 'done'; finishReason: string; usage?: TokenUsage };

/** A streaming chat model. `stream()` throws {@link LlmError} on failure and {@link LlmAbortError} when aborted. */
export interface LlmProvider {
  readonly name: string;
  stream(request: GenerateRequest): AsyncIterable<StreamChunk>;
  /** The model ids the provider's models endpoint lists; absent for a provider that has none (offline). */
  listModels?(signal?: AbortSignal): Promise<string[]>;
}


/**
 * Configuration of the LLM layer: the service configuration's `llm` part (packages/shared/src/config.ts
 * documents each field), with the offline provider's word delay optional (default {@link DEFAULT_OFFLINE_WORD_DELAY_MS}).
 */
export type LlmConfig = Omit<Config['llm'], 'offlineWordDelayMs'> & { offlineWordDelayMs?: number };

/** Default delay between words of the offline provider. */
export const DEFAULT_OFFLINE_WORD_DELAY_MS = 20;

/** Machine-readable reason of an {@link LlmError}. */
export type LlmErrorCode =
  | 'first-token-timeout'
  | 'idle-timeout'
  | 'total-timeout'
  | 'http'
  | 'network'
  | 'incomplete'
  | 'circuit-open'
  | 'aborted'
  | 'provider';

/** Options of an {@link LlmError}. */
export interface LlmErrorOptions {
  code: LlmErrorCode;
  retryable: boolean;
  provider?: string;
  status?: number;
  cause?: unknown;
}

/** The one error type of the LLM layer; `message` is readable, `retryable` says whether a new attempt may help. */
export class LlmError extends Error {
  readonly code: LlmErrorCode;
  readonly retryable: boolean;
  readonly provider?: string;
  /** HTTP status when the provider answered with an error status. */
  readonly status?: number;
  /** How many attempts were made before giving up (set by the resilient wrapper). */
  attempts?: number;

  constructor(message: string, options: LlmErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LlmError';
    this.code = options.code;
    this.retryable = options.retryable;
    this.provider = options.provider;
    this.status = options.status;
  }
}

/**
 * Thrown by `stream()` when the caller's AbortSignal fires: the request is cancelled and the stream ends with this error
 * (never with a `done` chunk). `name` is `'AbortError'` like DOM aborts; it never counts as a provider failure.
 */
export class LlmAbortError extends LlmError {
  constructor(provider?: string, cause?: unknown) {
    super('generation was aborted by the caller', { code: 'aborted', retryable: false, provider, cause });
    this.name = 'AbortError';
  }
}

/** True for the abort error of this layer (or any DOM-style `AbortError`). */
export function isAbortError(error: unknown): boolean {
  return error instanceof LlmAbortError || (error instanceof Error && error.name === 'AbortError');
}
