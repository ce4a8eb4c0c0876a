/**
 * Token counting with gpt-tokenizer's o200k_base encoding (GPT-4o family). For other models (local models,
 * Claude) the counts are a close estimate, which is all prompt budgeting needs.
 */
import { countTokens as countEncodedTokens } from 'gpt-tokenizer';
import type { ChatMessage } from './types';

/** ChatML framing per message in the GPT-4o format: `<|im_start|>`, role, `<|im_sep|>` … `<|im_end|>`. */
export const TOKENS_PER_MESSAGE = 4;
/** Tokens that prime the assistant's reply after the last message: `<|im_start|>assistant<|im_sep|>`. */
export const REPLY_PRIMING_TOKENS = 3;

/** Special tokens such as `<|endoftext|>` in user text are counted as plain text instead of throwing. */
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

/** Runs of non-space characters longer than this are counted piece by piece. */
export const LONG_RUN_CHARS = 200;
const LONG_RUN = new RegExp(`\\S{${LONG_RUN_CHARS},}`, 'g');

/**
 * Number of tokens of a piece of text. The encoder's time grows steeply with the length of a
 * run without spaces (50,000 letters take seconds), so long runs are counted in bounded pieces.
 */
export function countTokens(text: string): number {
  if (!text) return 0;
  if (text.match(LONG_RUN) === null) return countEncodedTokens(text, PLAIN_TEXT);
  let pieces = 0;
  const rest = text.replace(LONG_RUN, (run) => {
    for (let at = 0; at < run.length; at += LONG_RUN_CHARS) pieces += countEncodedTokens(run.slice(at, at + LONG_RUN_CHARS), PLAIN_TEXT);
    return ' ';
  });
  return pieces + countEncodedTokens(rest, PLAIN_TEXT);
}

/** Tokens one message occupies in a chat prompt (content plus framing). */
export function countChatMessageTokens(message: ChatMessage): number {
  return countTokens(message.content) + TOKENS_PER_MESSAGE;
}

/** Tokens of a whole chat prompt: every message plus the reply priming (equals gpt-tokenizer's `encodeChat` for gpt-4o). */
export function countMessageTokens(messages: readonly ChatMessage[]): number {
  return messages.reduce((sum, message) => sum + countChatMessageTokens(message), REPLY_PRIMING_TOKENS);
}
