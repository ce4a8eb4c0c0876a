/**
 * Provider for OpenAI-compatible chat completion servers (OpenAI, LM Studio, Ollama, vLLM, llama.cpp …)
 * through the official `openai` client, streaming with usage reporting.
 */
import OpenAI from 'openai';
import { traceHeaders } from '@chat/shared/tracing';
import { toLlmError } from './errors';
import { LlmAbortError, LlmError, type GenerateRequest, type LlmProvider, type StreamChunk, type TokenUsage } from './types';

/** LM Studio's local server, the default target for development. */
export const DEFAULT_OPENAI_BASE_URL = 'http://localhost:1234/v1';
/** Local servers ignore the key but the client insists on one. */
export const DEFAULT_LOCAL_API_KEY = 'lm-studio';
/** Provider name used in errors and logs. */
export const OPENAI_PROVIDER_NAME = 'openai';

/** Options of {@link createOpenAiProvider}. */
export interface OpenAiProviderOptions {
  baseUrl?: string;
  apiKey?: string;
  /** The configured provider's id, named in errors, logs and replies (default {@link OPENAI_PROVIDER_NAME}). */
  name?: string;
}

/**
 * Creates a provider over `POST {baseUrl}/chat/completions` with `stream: true` and `stream_options.include_usage`.
 * Sends `max_tokens` (understood by every OpenAI-compatible server; OpenAI's reasoning models want `max_completion_tokens`).
 * The SDK's own retries are off: retries belong to the resilient wrapper.
 */
export function createOpenAiProvider(options: OpenAiProviderOptions = {}): LlmProvider {
  const client = new OpenAI({
    baseURL: options.baseUrl ?? DEFAULT_OPENAI_BASE_URL,
    apiKey: options.apiKey ?? DEFAULT_LOCAL_API_KEY,
    maxRetries: 0,
  });
  const name = options.name ?? OPENAI_PROVIDER_NAME;

  async function* stream(request: GenerateRequest): AsyncGenerator<StreamChunk> {
    const { signal } = request;
    let finishReason: string | undefined;
    let usage: TokenUsage | undefined;
    try {
      const chunks = await client.chat.completions.create(
        {
          model: request.model,
          messages: request.messages.map((m) => ({ role: m.role, content: m.content })),
          temperature: request.temperature,
          max_tokens: request.maxTokens,
          stream: true,
          stream_options: { include_usage: true },
        },
        // The provider call joins the reply's trace (a gateway or proxy in front of the model can continue it).
        { signal, headers: traceHeaders() },
      );
      for await (const chunk of chunks) {
        // Some servers (vLLM) send the final usage chunk with `choices: null`.
        const choice = chunk.choices?.[0];
        const text = choice?.delta?.content;
        if (text) yield { type: 'delta', text };
        if (choice?.finish_reason) finishReason = choice.finish_reason;
        if (chunk.usage) usage = toUsage(chunk.usage);
      }
    } catch (error) {
      throw toLlmError(error, name, signal);
    }
    // The SDK ends the iteration quietly when the request is aborted.
    if (signal?.aborted) throw new LlmAbortError(name, signal.reason);
    if (!finishReason) {
      throw new LlmError(`${name} provider stream ended before a finish reason was received`, {
        code: 'incomplete',
        retryable: true,
        provider: name,
      });
    }
    yield usage ? { type: 'done', finishReason, usage } : { type: 'done', finishReason };
  }

  /** `GET {baseUrl}/models`: every page of the server's model ids. */
  async function listModels(signal?: AbortSignal): Promise<string[]> {
    const ids: string[] = [];
    try {
      for await (const model of client.models.list({ signal })) ids.push(model.id);
    } catch (error) {
      throw toLlmError(error, name, signal);
    }
    return ids;
  }

  return { name, stream, listModels };
}

function toUsage(usage: OpenAI.CompletionUsage): TokenUsage {
  return {
    promptTokens: usage.prompt_tokens,
    completionTokens: usage.completion_tokens,
    totalTokens: usage.total_tokens ?? usage.prompt_tokens + usage.completion_tokens,
  };
}
