/**
 * Entry point of the LLM layer: builds the configured provider wrapped with timeouts, retries and a circuit breaker.
 */
import { createAnthropicProvider } from './anthropic';
import { createOfflineProvider } from './offline';
import { createOpenAiProvider } from './openai';
import { createResilientProvider, type ResilientProvider } from './resilient';
import type { LlmConfig, LlmProvider } from './types';

export * from './types';
export { buildPrompt, buildSystemMessage, summarizeHistory, SUMMARY_BUFFER_MIN_CONTEXT_TOKENS } from './prompt';
export type { BuildPromptInput, BuiltPrompt, HistoryMessage, PromptCharacter, PromptPart, PromptPersona, PromptStrategy, SystemSection } from './prompt';
export type { Lorebook, LorebookEntry } from './lorebook';
export { countTokens, countMessageTokens, countChatMessageTokens } from './tokens';
export { SUMMARY_MAX_TOKENS } from './summary';
export type { BreakerState } from './breaker';
export type { ResilientProvider } from './resilient';

/** Creates the unwrapped provider chosen by `config.provider`. */
export function createBaseProvider(config: LlmConfig): LlmProvider {
  switch (config.provider) {
    case 'openai':
      return createOpenAiProvider({ baseUrl: config.baseUrl, apiKey: config.apiKey });
    case 'anthropic':
      return createAnthropicProvider({ baseUrl: config.baseUrl, apiKey: config.apiKey });
    case 'offline':
      return createOfflineProvider({ wordDelayMs: config.offlineWordDelayMs });
    default: {
      const unknown: never = config.provider;
      throw new Error(`unknown LLM provider "${String(unknown)}" (expected openai, anthropic or offline)`);
    }
  }
}

/** Creates the configured provider with resilience; `breakerState()` feeds the admin view. */
export function createLlmProvider(config: LlmConfig): ResilientProvider {
  return createResilientProvider(createBaseProvider(config), config);
}
