/**
 * Builds the chat prompt for a character reply: one system message describing the character (with the active
 * lorebook entries and the user's persona), optionally a summary of dropped history, as much recent history as the
 * context window allows, then the character's post-history instructions.
 */
import { expandMacros, type MacroNames } from '@chat/shared/macros';
import { activeLoreEntries, type ActiveEntry, type Lorebook } from './lorebook';
import { REPLY_PRIMING_TOKENS, countChatMessageTokens, countTokens } from './tokens';
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
/** What `{{user}}` becomes when the prompt is built without a persona (unit tests, old queued jobs). */
export const DEFAULT_USER_NAME = 'User';

/** Headings of the system message sections. */
export const SECTION_HEADINGS = {
  character: '## Character',
  personality: '## Personality',
  scenario: '## Scenario',
  exampleDialogue: '## Example dialogue',
  user: '## User',
} as const;

/** The sentence of the user section that names the user. */
export function userLine(name: string): string {
  return `The user is ${name}.`;
}

/** Instruction used when the character has no system prompt of its own. */
export function defaultSystemPrompt(name: string): string {
  return `You are ${name}. Stay in character and reply as ${name} would, in the first person.`;
}

/** Who the user is in the conversation: what `{{user}}` becomes, and the description the character knows them by. */
export interface PromptPersona {
  name: string;
  description?: string | null;
}

/**
 * What the prompt is built from besides the history: the character's fields (empty or missing ones are skipped),
 * the conversation's persona and the lorebooks (the character's own first, then the conversation's).
 */
export interface PromptCharacter {
  name: string;
  description?: string | null;
  personality?: string | null;
  scenario?: string | null;
  exampleDialogue?: string | null;
  systemPrompt?: string | null;
  /** Sent after the history, as the card specs say. */
  postHistoryInstructions?: string | null;
  persona?: PromptPersona | null;
  lorebooks?: readonly Lorebook[] | null;
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
  | { kind: 'history'; role: ChatRole; tokens: number; /** Index of the message in `input.history`. */ historyIndex: number }
  | { kind: 'post-history'; role: 'system'; tokens: number };

/** A piece of the system message worth showing on its own (its tokens are part of the system message's). */
export type SystemSection =
  | { kind: 'persona'; content: string; tokens: number }
  | { kind: 'lorebook'; content: string; tokens: number; /** The key that activated the entry; null for a constant one. */ activatedBy: string | null };

/** Result of {@link buildPrompt}. */
export interface BuiltPrompt {
  messages: ChatMessage[];
  /** One entry per message in `messages`, same order. */
  parts: PromptPart[];
  /** The persona and each active lorebook entry inside the system message, in the order they appear there. */
  sections: SystemSection[];
  /** Tokens of the whole prompt: the parts plus reply priming (`countMessageTokens(messages)`). */
  totalTokens: number;
  /** Tokens the prompt may use: `contextWindowTokens - maxTokens`. Only an oversized system message can exceed it. */
  budgetTokens: number;
  /** Oldest history messages left out (`history.slice(0, droppedMessages)` is what a summary should cover). */
  droppedMessages: number;
  strategy: PromptStrategy;
}

const ROLE_OF: Record<HistoryMessage['role'], ChatRole> = { USER: 'user', ASSISTANT: 'assistant', SYSTEM: 'system' };

/** What the macros of the character's texts become: its name, and the persona's (else {@link DEFAULT_USER_NAME}). */
export function macroNames(character: PromptCharacter): MacroNames {
  return { char: character.name.trim(), user: character.persona?.name.trim() || DEFAULT_USER_NAME };
}

/**
 * The character's system message: its system prompt (or a default), the lorebook entries placed before the
 * character, the character, those placed after it, then the other non-empty sections with headings; macros expanded.
 * `history` (oldest first) is what the lorebooks scan.
 */
export function buildSystemMessage(character: PromptCharacter, history: readonly HistoryMessage[] = []): ChatMessage {
  return systemMessageWithSections(character, history).message;
}

/** {@link buildSystemMessage} with the pieces of it a preview shows apart: the active lorebook entries and the persona. */
export function systemMessageWithSections(character: PromptCharacter, history: readonly HistoryMessage[]): { message: ChatMessage; sections: SystemSection[] } {
  const names = macroNames(character);
  const fill = (text: string | null | undefined) => expandMacros(text ?? '', names).trim();
  const lore = activeLoreEntries(character.lorebooks ?? [], history.map((m) => m.content)).map((entry) => ({ ...entry, content: fill(entry.content) }));
  const loreAt = (position: ActiveEntry['position']) => lore.filter((entry) => entry.position === position);
  const personaText = fill(character.persona?.description);
  const userSection = personaText ? section(SECTION_HEADINGS.user, `${userLine(names.user)}\n${personaText}`) : '';
  const characterSection = [`${CHARACTER_NAME_LABEL}${names.char}`, fill(character.description)].filter(Boolean).join('\n');
  const before = loreAt('BEFORE_CHARACTER');
  const after = loreAt('AFTER_CHARACTER');
  const blocks = [
    fill(character.systemPrompt) || defaultSystemPrompt(names.char),
    ...before.map((entry) => entry.content),
    `${SECTION_HEADINGS.character}\n${characterSection}`,
    ...after.map((entry) => entry.content),
    section(SECTION_HEADINGS.personality, fill(character.personality)),
    section(SECTION_HEADINGS.scenario, fill(character.scenario)),
    userSection,
    section(SECTION_HEADINGS.exampleDialogue, fill(character.exampleDialogue)),
  ];
  const loreSection = (entry: ActiveEntry): SystemSection => ({ kind: 'lorebook', content: entry.content, tokens: countTokens(entry.content), activatedBy: entry.activatedBy });
  const sections: SystemSection[] = [
    ...before.map(loreSection),
    ...after.map(loreSection),
    ...(userSection ? [{ kind: 'persona' as const, content: userSection, tokens: countTokens(userSection) }] : []),
  ];
  return { message: { role: 'system', content: blocks.filter(Boolean).join(SECTION_SEPARATOR) }, sections };
}

/** The character's post-history instructions as the message after the history, macros expanded; null without any. */
export function postHistoryMessage(character: PromptCharacter): ChatMessage | null {
  const content = expandMacros(character.postHistoryInstructions ?? '', macroNames(character)).trim();
  return content ? { role: 'system', content } : null;
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

  const { message: system, sections } = systemMessageWithSections(input.character, input.history);
  const head: Array<{ message: ChatMessage; part: PromptPart }> = [
    { message: system, part: { kind: 'system', role: 'system', tokens: countChatMessageTokens(system) } },
  ];
  const postHistory = postHistoryMessage(input.character);
  const tail: Array<{ message: ChatMessage; part: PromptPart }> = postHistory
    ? [{ message: postHistory, part: { kind: 'post-history', role: 'system', tokens: countChatMessageTokens(postHistory) } }]
    : [];
  const names = macroNames(input.character);
  const history = input.history.map((entry, historyIndex) => {
    // The character's words may be a greeting stored before macros were expanded at the start: they are, here.
    const content = entry.role === 'ASSISTANT' ? expandMacros(entry.content, names) : entry.content;
    const message: ChatMessage = { role: ROLE_OF[entry.role], content };
    const part: PromptPart = { kind: 'history', role: message.role, tokens: countChatMessageTokens(message), historyIndex };
    return { message, part };
  });

  const used = () => [...head, ...tail].reduce((sum, item) => sum + item.part.tokens, REPLY_PRIMING_TOKENS);
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
  const kept = [...head, ...history.slice(firstKept), ...tail];
  const parts = kept.map((item) => item.part);
  return {
    messages: kept.map((item) => item.message),
    parts,
    sections,
    totalTokens: parts.reduce((sum, part) => sum + part.tokens, REPLY_PRIMING_TOKENS),
    budgetTokens,
    droppedMessages: firstKept,
    strategy,
  };
}

function section(heading: string, body: string): string {
  return body ? `${heading}\n${body}` : '';
}
