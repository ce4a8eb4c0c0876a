/** The JSON export: every message of the tree (deleted ones left out) with its parent, metadata, usage and times; and reading it back. */
import type { MessageRow } from '../store';
import { badFile, fileTime, messageText, optionalCount, optionalLabel, refuseTooMany, type ChatNames, type ImportedChat, type ImportedMessage } from './chat-file';

/** What the file says it is, so a reader knows it before reading on. */
export const JSON_FORMAT = 'character-chat.conversation';
export const JSON_VERSION = 1;

const ROLES = new Set(['USER', 'ASSISTANT', 'SYSTEM']);
/** Statuses kept as they are; a reply exported while still being written comes back CANCELLED with its text so far. */
const ENDED = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

/** The conversation's tree as the JSON file's text. */
export function toJson(conversationId: string, names: ChatNames, tree: readonly MessageRow[]): string {
  const file = {
    format: JSON_FORMAT,
    version: JSON_VERSION,
    conversationId,
    character: names.character,
    user: names.user,
    exportedAt: new Date().toISOString(),
    messages: tree.map((m) => ({
      id: m.id,
      parentId: m.parent_id,
      role: m.role,
      content: m.content,
      status: m.status,
      active: m.active,
      activeChildId: m.active_child_id,
      createdAt: m.created_at.toISOString(),
      completedAt: m.completed_at?.toISOString() ?? null,
      model: m.model,
      provider: m.provider,
      tokenUsage: m.total_tokens == null ? null : { promptTokens: m.prompt_tokens ?? 0, completionTokens: m.completion_tokens ?? 0, totalTokens: m.total_tokens },
      finishReason: m.finish_reason,
      latencyMs: m.latency_ms,
      credits: m.credits,
      moderation: m.moderation_flags ?? [],
    })),
  };
  return `${JSON.stringify(file, null, 2)}\n`;
}

/** A JSON file read back: BAD_USER_INPUT naming the message at fault (messages[i]) for anything it cannot take. */
export function fromJson(content: string): ImportedChat {
  let file: unknown;
  try {
    file = JSON.parse(content);
  } catch (error) {
    throw badFile('JSON', `not valid JSON (${(error as Error).message.slice(0, 100)})`);
  }
  if (!isObject(file) || !Array.isArray(file.messages)) throw badFile('JSON', 'expected an object with a messages array (as exportConversation writes)');
  if (file.format !== undefined && file.format !== JSON_FORMAT) throw badFile('format', `expected ${JSON_FORMAT}`);
  refuseTooMany(file.messages.length);
  if (file.messages.length === 0) throw badFile('messages', 'the file has no messages');
  const indexOf = new Map<string, number>();
  const activeChildIds: Array<unknown> = [];
  let leaf = -1;
  const now = new Date();
  const messages = file.messages.map((raw: unknown, i: number): ImportedMessage => {
    const where = `messages[${i}]`;
    if (!isObject(raw)) throw badFile(where, 'expected an object');
    if (typeof raw.id !== 'string' || raw.id === '' || indexOf.has(raw.id)) throw badFile(`${where}.id`, 'must be a text unique in the file');
    let parent: number | null = null;
    if (raw.parentId != null) {
      const found = typeof raw.parentId === 'string' ? indexOf.get(raw.parentId) : undefined;
      if (found === undefined) throw badFile(`${where}.parentId`, 'must be the id of an earlier message of the file');
      parent = found;
    }
    if (typeof raw.role !== 'string' || !ROLES.has(raw.role)) throw badFile(`${where}.role`, 'must be USER, ASSISTANT or SYSTEM');
    const status = raw.status == null ? 'COMPLETED' : raw.status;
    if (typeof status !== 'string') throw badFile(`${where}.status`, 'must be a message status');
    const usage = raw.tokenUsage;
    if (usage != null && !isObject(usage)) throw badFile(`${where}.tokenUsage`, 'expected an object');
    const createdAt = fileTime(`${where}.createdAt`, raw.createdAt, now);
    indexOf.set(raw.id, i);
    activeChildIds.push(raw.activeChildId);
    if (raw.active === true) leaf = i;
    return {
      parent,
      role: raw.role as MessageRow['role'],
      content: messageText(`${where}.content`, raw.content),
      status: ENDED.has(status) ? (status as ImportedMessage['status']) : 'CANCELLED',
      createdAt,
      completedAt: raw.completedAt == null ? null : fileTime(`${where}.completedAt`, raw.completedAt, createdAt),
      model: optionalLabel(`${where}.model`, raw.model),
      provider: optionalLabel(`${where}.provider`, raw.provider),
      promptTokens: optionalCount(`${where}.tokenUsage.promptTokens`, usage?.promptTokens),
      completionTokens: optionalCount(`${where}.tokenUsage.completionTokens`, usage?.completionTokens),
      totalTokens: optionalCount(`${where}.tokenUsage.totalTokens`, usage?.totalTokens),
      finishReason: optionalLabel(`${where}.finishReason`, raw.finishReason),
      latencyMs: optionalCount(`${where}.latencyMs`, raw.latencyMs),
      activeChild: null,
    };
  });
  // A remembered active child counts only when it is one of the message's children.
  activeChildIds.forEach((id, i) => {
    const child = typeof id === 'string' ? indexOf.get(id) : undefined;
    if (child !== undefined && messages[child].parent === i) messages[i].activeChild = child;
  });
  return { messages, leaf: leaf >= 0 ? leaf : messages.length - 1 };
}

function isObject(value: unknown): value is Record<string, any> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
