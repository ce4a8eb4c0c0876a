/**
 * Entry point of the LLM layer: builds the configured provider wrapped with timeouts, retries and a circuit breaker.
 */
import { createAnthropicProvider } from './anthropic';
import { createOfflineProvider } from './offline';
import { createOpenAiProvider } from './openai';
import { createResilientProvider, type ResilientProvider } from './resilient';
import type { LlmProviderConfig } from '@chat/shared/llm-config';
import type { LlmConfig, LlmProvider } from './types';

export * from './types';
export { buildPrompt, buildSystemMessage, summarizeHistory, SUMMARY_BUFFER_MIN_CONTEXT_TOKENS } from './prompt';
export type { BuildPromptInput, BuiltPrompt, HistoryMessage, PromptCharacter, PromptPart, PromptPersona, PromptStrategy, SystemSection } from './prompt';
export type { Lorebook, LorebookEntry } from './lorebook';
export { countTokens, countMessageTokens, countChatMessageTokens } from './tokens';
export { SUMMARY_MAX_TOKENS } from './summary';
export type { BreakerState } from './breaker';
export type { ResilientProvider } from './resilient';

/** Creates the unwrapped client of one configured provider; `apiKey` replaces the configured key (a user's own). */
export function createBaseProvider(provider: LlmProviderConfig, config: LlmConfig, apiKey = provider.apiKey): LlmProvider {
  const { id: name, baseUrl } = provider;
  switch (provider.kind) {
    case 'openai':
      return createOpenAiProvider({ baseUrl, apiKey, name });
    case 'anthropic':
      return createAnthropicProvider({ baseUrl, apiKey, name });
    case 'offline':
      return createOfflineProvider({ wordDelayMs: config.offlineWordDelayMs, name });
    default: {
      const unknown: never = provider.kind;
      throw new Error(`unknown LLM provider kind "${String(unknown)}" (expected openai, anthropic or offline)`);
    }
  }
}

/** Creates one configured provider with resilience; `breakerState()` feeds the catalogue and the admin view. */
export function createLlmProvider(provider: LlmProviderConfig, config: LlmConfig, apiKey?: string): ResilientProvider {
  return createResilientProvider(createBaseProvider(provider, config, apiKey), config);
}
