/**
 * Builds the chat prompt for a character reply: one system message describing the character, optionally a summary
 * of dropped history, then as much recent history as the context window allows.
 */
import { REPLY_PRIMING_TOKENS, countChatMessageTokens } from './tokens';
import type { ChatMessage, ChatRole } from './types';

export { summarizeHistory, type SummarizeOptions } from './summary';

/** Context windows at least this large keep a running summary of dropped history (summary-buffer strategy). */
export const SUMMARY_BUFFER_MIN_CONTEXT_TOKENS = 128_000;
/** Prefix of the system message that carries the summary of earlier conversation. */
export const SUMMARY_PREFIX = 'Summary of earlier conversation: ';
/** Label of the line that names the character in the system message (the offline provider reads it back). */
export const CHARACTER_NAME_LABEL = 'Name: ';
/** Blank line between sections of the system message. */
const SECTION_SEPARATOR = '\n\n';
/** Character-card placeholder for the character's name, as used by common card formats. */
const CHAR_PLACEHOLDER = /\{\{char\}\}/gi;

/** Headings of the system message sections. */
export const SECTION_HEADINGS = {
  character: '## Character',
  personality: '## Personality',
  scenario: '## Scenario',
  exampleDialogue: '## Example dialogue',
} as const;

/** Instruction used when the character has no system prompt of its own. */
export function defaultSystemPrompt(name: string): string {
  return `You are ${name}. Stay in character and reply as ${name} would, in the first person.`;
}

/** The character fields the prompt uses; empty or missing fields are skipped. */
export interface PromptCharacter {
  name: string;
  description?: string | null;
  personality?: string | null;
  scenario?: string | null;
  exampleDialogue?: string | null;
  systemPrompt?: string | null;
}

/** A stored conversation message as the messages subgraph keeps it. */
export interface HistoryMessage {
  role: 'USER' | 'ASSISTANT' | 'SYSTEM';
  content: string;
}

/** Input of {@link buildPrompt}. */
export interface BuildPromptInput {
  character: PromptCharacter;
  /** Conversation so far, oldest first (including the user message to answer). */
  history: readonly HistoryMessage[];
  /** Model context window in tokens. */
  contextWindowTokens: number;
  /** Tokens reserved for the reply. */
  maxTokens: number;
  /** Summary of the history that no longer fits (used by the summary-buffer strategy only). */
  summary?: string | null;
}

/** How history that does not fit is handled. */
export type PromptStrategy = 'token-buffer' | 'summary-buffer';

/** One message of the built prompt with its token cost (content plus per-message framing). */
export type PromptPart =
  | { kind: 'system'; role: 'system'; tokens: number }
  | { kind: 'summary'; role: 'system'; tokens: number }
  | { kind: 'history'; role: ChatRole; tokens: number; /** Index of the message in `input.history`. */ historyIndex: number };

/** Result of {@link buildPrompt}. */
export interface BuiltPrompt {
  messages: ChatMessage[];
  /** One entry per message in `messages`, same order. */
  parts: PromptPart[];
  /** Tokens of the whole prompt: the parts plus reply priming (`countMessageTokens(messages)`). */
  totalTokens: number;
  /** Tokens the prompt may use: `contextWindowTokens - maxTokens`. Only an oversized system message can exceed it. */
  budgetTokens: number;
  /** Oldest history messages left out (`history.slice(0, droppedMessages)` is what a summary should cover). */
  droppedMessages: number;
  strategy: PromptStrategy;
}

const ROLE_OF: Record<HistoryMessage['role'], ChatRole> = { USER: 'user', ASSISTANT: 'assistant', SYSTEM: 'system' };

/** Builds the character's system message: its system prompt (or a default), then the non-empty sections with headings. */
export function buildSystemMessage(character: PromptCharacter): ChatMessage {
  const name = character.name.trim();
  const fill = (text: string | null | undefined) => (text ?? '').replace(CHAR_PLACEHOLDER, name).trim();
  const characterSection = [`${CHARACTER_NAME_LABEL}${name}`, fill(character.description)].filter(Boolean).join('\n');
  const sections = [
    fill(character.systemPrompt) || defaultSystemPrompt(name),
    `${SECTION_HEADINGS.character}\n${characterSection}`,
    section(SECTION_HEADINGS.personality, fill(character.personality)),
    section(SECTION_HEADINGS.scenario, fill(character.scenario)),
    section(SECTION_HEADINGS.exampleDialogue, fill(character.exampleDialogue)),
  ];
  return { role: 'system', content: sections.filter(Boolean).join(SECTION_SEPARATOR) };
}

/**
 * Builds the prompt. History is kept newest-first while it fits `contextWindowTokens - maxTokens` after the system
 * message (whole messages only, never skipping one to fit an older one) and returned oldest-first. Windows of at least
 * {@link SUMMARY_BUFFER_MIN_CONTEXT_TOKENS} use the summary-buffer strategy: when history had to be dropped and a
 * summary is given, it is included (and paid for) as a system message right after the character's.
 */
export function buildPrompt(input: BuildPromptInput): BuiltPrompt {
  const { contextWindowTokens, maxTokens } = input;
  if (!(maxTokens >= 0 && contextWindowTokens > maxTokens)) {
    throw new RangeError(`maxTokens (${maxTokens}) must be below contextWindowTokens (${contextWindowTokens})`);
  }
  const strategy: PromptStrategy =
    contextWindowTokens >= SUMMARY_BUFFER_MIN_CONTEXT_TOKENS ? 'summary-buffer' : 'token-buffer';
  const budgetTokens = contextWindowTokens - maxTokens;

  const system = buildSystemMessage(input.character);
  const head: Array<{ message: ChatMessage; part: PromptPart }> = [
    { message: system, part: { kind: 'system', role: 'system', tokens: countChatMessageTokens(system) } },
  ];
  const history = input.history.map((entry, historyIndex) => {
    const message: ChatMessage = { role: ROLE_OF[entry.role], content: entry.content };
    const part: PromptPart = { kind: 'history', role: message.role, tokens: countChatMessageTokens(message), historyIndex };
    return { message, part };
  });

  const used = () => head.reduce((sum, item) => sum + item.part.tokens, REPLY_PRIMING_TOKENS);
  const historyTokens = history.reduce((sum, item) => sum + item.part.tokens, 0);
  const summaryText = input.summary?.trim();
  if (strategy === 'summary-buffer' && summaryText && used() + historyTokens > budgetTokens) {
    const message: ChatMessage = { role: 'system', content: SUMMARY_PREFIX + summaryText };
    const tokens = countChatMessageTokens(message);
    if (used() + tokens <= budgetTokens) head.push({ message, part: { kind: 'summary', role: 'system', tokens } });
  }

  let available = budgetTokens - used();
  let firstKept = history.length;
  while (firstKept > 0 && history[firstKept - 1].part.tokens <= available) {
    firstKept -= 1;
    available -= history[firstKept].part.tokens;
  }
  const kept = [...head, ...history.slice(firstKept)];
  const parts = kept.map((item) => item.part);
  return {
    messages: kept.map((item) => item.message),
    parts,
    totalTokens: parts.reduce((sum, part) => sum + part.tokens, REPLY_PRIMING_TOKENS),
    budgetTokens,
    droppedMessages: firstKept,
    strategy,
  };
}

function section(heading: string, body: string): string {
  return body ? `${heading}\n${body}` : '';
}
