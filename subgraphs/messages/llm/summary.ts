/**
 * Asks a provider for a short summary of conversation history that no longer fits the context window.
 */
import type { ChatMessage, LlmProvider } from './types';

/** What the summarising model is told to do. */
export const SUMMARY_INSTRUCTIONS =
  'You summarise role-play conversations. Write a concise summary (at most 150 words) of the conversation below: ' +
  'key facts, names, decisions, open threads and the emotional tone. Write plain prose in the third person, no preamble.';
/** Low temperature for a factual summary. */
export const SUMMARY_TEMPERATURE = 0.2;
/** Upper bound on the summary's length in tokens. */
export const SUMMARY_MAX_TOKENS = 300;

/** Options of {@link summarizeHistory}. */
export interface SummarizeOptions {
  /** A summary of even older history to fold into the new one. */
  previousSummary?: string | null;
  /** Label for assistant lines in the transcript (default "Character"). */
  characterName?: string;
  signal?: AbortSignal;
  maxTokens?: number;
}

/** Summarises `messages` (oldest first; roles in either casing) with one generation and returns the trimmed text. */
export async function summarizeHistory(
  provider: LlmProvider,
  model: string,
  messages: ReadonlyArray<{ role: string; content: string }>,
  options: SummarizeOptions = {},
): Promise<string> {
  const speaker = (role: string) => {
    const lower = role.toLowerCase();
    if (lower === 'user') return 'User';
    if (lower === 'assistant') return options.characterName || 'Character';
    return 'Note';
  };
  const transcript = messages.map((m) => `${speaker(m.role)}: ${m.content}`).join('\n');
  const earlier = options.previousSummary?.trim() ? `Summary so far: ${options.previousSummary.trim()}\n\n` : '';
  const request: ChatMessage[] = [
    { role: 'system', content: SUMMARY_INSTRUCTIONS },
    { role: 'user', content: `${earlier}Conversation:\n${transcript}` },
  ];
  let text = '';
  for await (const chunk of provider.stream({
    model,
    messages: request,
    temperature: SUMMARY_TEMPERATURE,
    maxTokens: options.maxTokens ?? SUMMARY_MAX_TOKENS,
    signal: options.signal,
  })) {
    if (chunk.type === 'delta') text += chunk.text;
  }
  return text.trim();
}
