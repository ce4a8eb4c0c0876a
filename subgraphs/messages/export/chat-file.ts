/** What every chat file format reads into and writes from: a conversation's tree, format-neutral. */
import { badInput } from '@chat/shared/errors';
import { LIMITS, stripControl } from '@chat/shared/validate';
import { MAX_MESSAGES_PER_CONVERSATION } from '../chat/checks';
import type { MessageRow } from '../store';

/** The most messages an imported file may hold: what one conversation may hold. */
export const MAX_IMPORTED_MESSAGES = MAX_MESSAGES_PER_CONVERSATION;

/** One message read from a file; its parent is an earlier message of the same file (by index), or none. */
export interface ImportedMessage {
  parent: number | null;
  role: MessageRow['role'];
  content: string;
  status: 'COMPLETED' | 'FAILED' | 'CANCELLED';
  createdAt: Date;
  completedAt: Date | null;
  model: string | null;
  provider: string | null;
  promptTokens: number | null;
  completionTokens: number | null;
  totalTokens: number | null;
  finishReason: string | null;
  latencyMs: number | null;
  /** The child last active under it, by index; null: any (the last one). */
  activeChild: number | null;
}

/** A chat file read: its messages, parents first, and the last message of its active path. */
export interface ImportedChat {
  messages: ImportedMessage[];
  /** Index of the active path's last message. */
  leaf: number;
}

/** The names a file gives the two sides. */
export interface ChatNames {
  character: string;
  user: string;
}

/** BAD_USER_INPUT on the import's content, naming where in the file (a line, a message). */
export const badFile = (where: string, why: string) => badInput('content', `${where}: ${why}`);

/** BAD_USER_INPUT once a file holds more messages than a conversation may. */
export function refuseTooMany(count: number): void {
  if (count > MAX_IMPORTED_MESSAGES) throw badInput('content', `holds more than ${MAX_IMPORTED_MESSAGES} messages, the most a conversation may hold; split it`);
}

/** A message's text from a file: control characters removed, at most the message limit. */
export function messageText(where: string, value: unknown): string {
  if (typeof value !== 'string') throw badFile(where, 'the message text must be a string');
  const cleaned = stripControl(value);
  if ([...cleaned].length > LIMITS.messageMax) throw badFile(where, `a message holds at most ${LIMITS.messageMax} characters`);
  return cleaned;
}

/** An instant from a file (ISO text or epoch milliseconds); `fallback` when absent. */
export function fileTime(where: string, value: unknown, fallback: Date): Date {
  if (value == null || value === '') return fallback;
  const time = typeof value === 'number' ? value : typeof value === 'string' ? Date.parse(value) : NaN;
  if (!Number.isFinite(time) || time < 0 || time > 253_402_300_799_999) throw badFile(where, `${JSON.stringify(value).slice(0, 40)} is not a date`);
  return new Date(time);
}

/** A short optional text (a model's name...), or null. */
export function optionalLabel(where: string, value: unknown, max = 200): string | null {
  if (value == null) return null;
  if (typeof value !== 'string' || value.length > max) throw badFile(where, `must be a text of at most ${max} characters`);
  return stripControl(value);
}

/** An optional whole count (tokens, milliseconds), or null. */
export function optionalCount(where: string, value: unknown): number | null {
  if (value == null) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > 2_147_483_647) throw badFile(where, 'must be a whole number');
  return value;
}

/** The neutral fields a message gets when a format says nothing of them. */
export function plainMessage(parent: number | null, role: MessageRow['role'], content: string, createdAt: Date): ImportedMessage {
  return {
    parent,
    role,
    content,
    status: 'COMPLETED',
    createdAt,
    completedAt: createdAt,
    model: null,
    provider: null,
    promptTokens: null,
    completionTokens: null,
    totalTokens: null,
    finishReason: null,
    latencyMs: null,
    activeChild: null,
  };
}
