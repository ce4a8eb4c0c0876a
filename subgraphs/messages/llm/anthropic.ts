/**
 * Provider for Anthropic's Messages API through `@anthropic-ai/sdk`, streaming raw events.
 */
import Anthropic from '@anthropic-ai/sdk';
import { traceHeaders } from '@chat/shared/tracing';
import { toLlmError } from './errors';
import {
  LlmAbortError,
  LlmError,
  type ChatMessage,
  type GenerateRequest,
  type LlmProvider,
  type StreamChunk,
  type TokenUsage,
} from './types';

/** Provider name used in errors and logs. */
export const ANTHROPIC_PROVIDER_NAME = 'anthropic';
/** The Messages API wants the conversation to open with a user turn; this stands in when it opens otherwise (e.g. a greeting). */
export const CONVERSATION_START_PLACEHOLDER = '(The conversation begins.)';
/** Separator used when system prompts or consecutive same-role messages are merged. */
export const MERGE_SEPARATOR = '\n\n';
/** Matches an API base that already ends in `/v1`; the SDK appends `/v1/messages` itself. */
const TRAILING_VERSION = /\/v1\/?$/;

/** Options of {@link createAnthropicProvider}. */
export interface AnthropicProviderOptions {
  /** API origin, e.g. `https://api.anthropic.com` (default: SDK default / ANTHROPIC_BASE_URL). A trailing `/v1` is removed. */
  baseUrl?: string;
  /** API key (default: the SDK reads ANTHROPIC_API_KEY). */
  apiKey?: string;
  /** The configured provider's id, named in errors, logs and replies (default {@link ANTHROPIC_PROVIDER_NAME}). */
  name?: string;
}

/** The Messages API request shape for a chat: system prompt apart, alternating turns starting with the user. */
export interface AnthropicPrompt {
  system?: string;
  messages: Array<{ role: 'user' | 'assistant'; content: string }>;
}

/**
 * Converts chat messages to the Messages API rules: system messages are joined into `system`, empty messages dropped,
 * consecutive same-role messages merged, a placeholder user turn prepended when the first turn is not the user's,
 * and trailing whitespace removed from a final assistant turn (the API rejects it in a prefill).
 */
export function toAnthropicPrompt(messages: readonly ChatMessage[]): AnthropicPrompt {
  const system = messages
    .filter((m) => m.role === 'system' && m.content.trim())
    .map((m) => m.content)
    .join(MERGE_SEPARATOR);
  const turns: AnthropicPrompt['messages'] = [];
  for (const message of messages) {
    if (message.role === 'system' || !message.content.trim()) continue;
    const last = turns.at(-1);
    if (last?.role === message.role) last.content += MERGE_SEPARATOR + message.content;
    else turns.push({ role: message.role, content: message.content });
  }
  if (turns[0]?.role !== 'user') turns.unshift({ role: 'user', content: CONVERSATION_START_PLACEHOLDER });
  const final = turns.at(-1);
  if (final?.role === 'assistant') final.content = final.content.trimEnd();
  return system ? { system, messages: turns } : { messages: turns };
}

/**
 * Creates a provider over `POST {baseUrl}/v1/messages` with `stream: true`. The SDK's own retries are off.
 * `request.temperature` is NOT sent: SDK 1.x speaks API version 2026-10-21, which removed the sampling parameters
 * (`temperature`, `top_p`, `top_k` are rejected with HTTP 400 even at their defaults).
 */
export function createAnthropicProvider(options: AnthropicProviderOptions = {}): LlmProvider {
  const client = new Anthropic({
    baseURL: options.baseUrl?.replace(TRAILING_VERSION, ''),
    apiKey: options.apiKey,
    maxRetries: 0,
  });
  const name = options.name ?? ANTHROPIC_PROVIDER_NAME;

  async function* stream(request: GenerateRequest): AsyncGenerator<StreamChunk> {
    const { signal } = request;
    let finishReason: string | undefined;
    let stopped = false;
    let promptTokens = 0;
    let completionTokens = 0;
    try {
      const events = await client.messages.create(
        {
          model: request.model,
          max_tokens: request.maxTokens,
          ...toAnthropicPrompt(request.messages),
          stream: true,
        },
        // The provider call joins the reply's trace (a gateway or proxy in front of the model can continue it).
        { signal, headers: traceHeaders() },
      );
      for await (const event of events) {
        switch (event.type) {
          case 'message_start': {
            const usage = event.message.usage;
            promptTokens = inputTokens(usage);
            completionTokens = usage.output_tokens ?? 0;
            break;
          }
          case 'content_block_delta':
            if (event.delta.type === 'text_delta' && event.delta.text) yield { type: 'delta', text: event.delta.text };
            break;
          case 'message_delta':
            // Usage here is cumulative; some compatible gateways only report input tokens here.
            if (event.delta.stop_reason) finishReason = event.delta.stop_reason;
            completionTokens = event.usage.output_tokens ?? completionTokens;
            if (event.usage.input_tokens != null) promptTokens = inputTokens(event.usage);
            break;
          case 'message_stop':
            stopped = true;
            break;
        }
      }
    } catch (error) {
      throw toLlmError(error, name, signal);
    }
    if (signal?.aborted) throw new LlmAbortError(name, signal.reason);
    if (!stopped && !finishReason) {
      throw new LlmError(`${name} provider stream ended before message_stop`, {
        code: 'incomplete',
        retryable: true,
        provider: name,
      });
    }
    const usage: TokenUsage = { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens };
    yield { type: 'done', finishReason: finishReason ?? 'end_turn', usage };
  }

  /** `GET /v1/models`: every page of the API's model ids. */
  async function listModels(signal?: AbortSignal): Promise<string[]> {
    const ids: string[] = [];
    try {
      for await (const model of client.models.list({}, { signal })) ids.push(model.id);
    } catch (error) {
      throw toLlmError(error, name, signal);
    }
    return ids;
  }

  return { name, stream, listModels };
}

/** Total input tokens: uncached plus cache writes plus cache reads. */
function inputTokens(usage: {
  input_tokens: number | null;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}): number {
  return (usage.input_tokens ?? 0) + (usage.cache_creation_input_tokens ?? 0) + (usage.cache_read_input_tokens ?? 0);
}
