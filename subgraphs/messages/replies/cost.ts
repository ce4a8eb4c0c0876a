/** What a reply costs in credits: its tokens at the model's price. */
import { DEFAULT_CREDITS_PER_TOKEN, type ModelPrice } from '@chat/shared/llm-config';
import { countTokens } from '../llm';

/** Credits per prompt token and per completion token (a model's price, llm/catalogue.ts). */
export type CreditPrice = ModelPrice;

/** One credit per token of either kind: a model configured without a price. */
export const DEFAULT_PRICE: CreditPrice = { creditsPerPromptToken: DEFAULT_CREDITS_PER_TOKEN, creditsPerCompletionToken: DEFAULT_CREDITS_PER_TOKEN };

/** Tokens a reply used: the prompt the provider read, and the completion it wrote. */
export interface TokensUsed {
  promptTokens: number;
  completionTokens: number;
}

/** The credits `used` tokens cost at `price`, rounded up to a whole credit. */
export function creditsFor(used: TokensUsed, price: CreditPrice = DEFAULT_PRICE): number {
  return Math.ceil(used.promptTokens * price.creditsPerPromptToken + used.completionTokens * price.creditsPerCompletionToken);
}

/**
 * What an ended reply used: the provider's count when it reported one; otherwise, once the
 * provider was asked (`promptTokens` known), that prompt and the text it kept, counted here.
 */
export function tokensUsed(ending: { prompt_tokens?: number | null; completion_tokens?: number | null; content?: string | null }): TokensUsed {
  const promptTokens = ending.prompt_tokens ?? 0;
  if (ending.completion_tokens != null) return { promptTokens, completionTokens: ending.completion_tokens };
  return { promptTokens, completionTokens: ending.content ? countTokens(ending.content) : 0 };
}
