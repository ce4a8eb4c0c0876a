/**
 * Offline provider for demos and development without any model: streams a deterministic, in-character reply that
 * quotes the user and says plainly that no LLM is configured.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CHARACTER_NAME_LABEL } from './prompt';
import { countMessageTokens, countTokens } from './tokens';
import {
  DEFAULT_OFFLINE_WORD_DELAY_MS,
  LlmAbortError,
  type ChatMessage,
  type GenerateRequest,
  type LlmProvider,
  type StreamChunk,
} from './types';

/** Provider name used in errors and logs. */
export const OFFLINE_PROVIDER_NAME = 'offline';
/** Every offline reply ends with this notice so nobody mistakes it for a model's answer. */
export const OFFLINE_NOTICE = '(offline demo reply — no LLM is configured)';
/** Longest quote of the user's message, in words. */
export const QUOTE_MAX_WORDS = 12;
/** Name used when the prompt does not reveal the character's. */
export const FALLBACK_CHARACTER_NAME = 'The character';
/** Second source of a name: a "You are X." instruction in the system prompt. */
const YOU_ARE = /\bYou are ([A-Z][^.,!?;:\n]{0,40})/;

/** Options of {@link createOfflineProvider}. */
export interface OfflineProviderOptions {
  /** Delay between streamed words (default {@link DEFAULT_OFFLINE_WORD_DELAY_MS}). */
  wordDelayMs?: number;
  /** The configured provider's id (default {@link OFFLINE_PROVIDER_NAME}). */
  name?: string;
}

/** Reply templates; one is chosen by a hash of the user's message so the same input always gives the same reply. */
const TEMPLATES: ReadonlyArray<(name: string, quote: string) => string> = [
  (name, quote) => `*${name} listens closely.* You said: "${quote}" I wish I could answer you properly, but my thoughts are far away right now.`,
  (name, quote) => `*${name} tilts their head.* "${quote}" — what a thing to say! I will have a real answer for you once my voice returns.`,
  (name, quote) => `*${name} nods slowly.* I heard you: "${quote}" Give me a moment… no, I am only a stand-in today.`,
];
/** Used when there is no user message to reply to. */
const GREETING = (name: string) => `*${name} waves.* Hello there! I am only a stand-in today, but I am glad you stopped by.`;

/** The character's name from the system prompt built by `buildPrompt` (or a "You are X" instruction). */
export function characterNameFrom(messages: readonly ChatMessage[]): string {
  const system = messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n');
  const labelled = system.split('\n').find((line) => line.startsWith(CHARACTER_NAME_LABEL));
  const name = labelled?.slice(CHARACTER_NAME_LABEL.length).trim() || YOU_ARE.exec(system)?.[1]?.trim();
  return name || FALLBACK_CHARACTER_NAME;
}

/** The deterministic offline reply to a prompt (notice included). */
export function offlineReply(messages: readonly ChatMessage[]): string {
  const name = characterNameFrom(messages);
  const lastUser = [...messages].reverse().find((m) => m.role === 'user')?.content.trim();
  if (!lastUser) return `${GREETING(name)} ${OFFLINE_NOTICE}`;
  const words = lastUser.split(/\s+/);
  const quote = words.length > QUOTE_MAX_WORDS ? `${words.slice(0, QUOTE_MAX_WORDS).join(' ')}…` : words.join(' ');
  const template = TEMPLATES[hash(lastUser) % TEMPLATES.length];
  return `${template(name, quote)} ${OFFLINE_NOTICE}`;
}

/** Creates the offline provider: the reply streams word by word, cut at `maxTokens` (finish reason `length`). */
export function createOfflineProvider(options: OfflineProviderOptions = {}): LlmProvider {
  const wordDelayMs = options.wordDelayMs ?? DEFAULT_OFFLINE_WORD_DELAY_MS;
  const name = options.name ?? OFFLINE_PROVIDER_NAME;

  async function* stream(request: GenerateRequest): AsyncGenerator<StreamChunk> {
    const { signal } = request;
    const words = offlineReply(request.messages).match(/\S+\s*/g) ?? [];
    let text = '';
    let finishReason = 'stop';
    for (const [index, word] of words.entries()) {
      if (countTokens(text + word) > request.maxTokens) {
        finishReason = 'length';
        break;
      }
      if (index > 0 && wordDelayMs > 0) {
        try {
          await sleep(wordDelayMs, undefined, { signal });
        } catch (error) {
          throw new LlmAbortError(name, error);
        }
      }
      if (signal?.aborted) throw new LlmAbortError(name, signal.reason);
      text += word;
      yield { type: 'delta', text: word };
    }
    const promptTokens = countMessageTokens(request.messages);
    const completionTokens = countTokens(text);
    yield { type: 'done', finishReason, usage: { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens } };
  }

  return { name, stream };
}

/** Small stable string hash (FNV-1a). */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
