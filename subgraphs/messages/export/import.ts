/**
 * importConversation: a chat file (JSON or SillyTavern JSONL) becomes a new conversation of the caller's with its tree.
 * Read and checked whole first (a malformed line refuses the file, naming the line); the messages are then stored in
 * one transaction under a new id, hidden, and the conversations subgraph records the conversation under it; then they
 * are shown. When recording fails, they are dropped: nobody ever sees half an import.
 */
import { randomUUID } from 'node:crypto';
import { requireViewer } from '@chat/shared/auth';
import { badInput } from '@chat/shared/errors';
import { isUuid } from '@chat/shared/validate';
import type { Context } from '../context';
import type { ConversationExportFormat } from '../generated/graphql';
import { RecordImportDocument } from '../generated/peers/conversations';
import type { ConversationRef } from '../store';
import type { ImportedChat } from './chat-file';
import { fromJson } from './json';
import { fromSillyTavern } from './sillytavern';
import type { ImportedRow } from './store';

/** What importConversation takes. */
export interface ImportInput {
  characterId: string;
  format: ConversationExportFormat;
  content: string;
}

/** importConversation: the new conversation, its active path the file's. */
export async function importConversation(ctx: Context, input: ImportInput): Promise<ConversationRef> {
  const viewer = requireViewer(ctx.viewer);
  if (!isUuid(input.characterId)) throw badInput('characterId', 'is not a valid id');
  const chat = readChat(input.format, input.content);
  const conversationId = randomUUID();
  await ctx.store.files.storeImport(conversationId, viewer.id, input.characterId, importedRows(chat, conversationId, viewer.id));
  try {
    await ctx.peers.conversations.call(RecordImportDocument, { conversationId, characterId: input.characterId, title: null }, { actingFor: ctx.viewer });
  } catch (error) {
    await ctx.store.tree.dropCopy(conversationId);
    throw error;
  }
  await ctx.store.files.imported(conversationId);
  return { id: conversationId };
}

/** The file read in its format. */
function readChat(format: ConversationExportFormat, content: string): ImportedChat {
  if (format === 'JSON') return fromJson(content);
  if (format === 'SILLYTAVERN_JSONL') return fromSillyTavern(content);
  throw badInput('format', `${format} files cannot be imported (JSON and SILLYTAVERN_JSONL can)`);
}

/**
 * The rows of an imported chat: new ids, each message's parent; the path to the file's leaf active, each message's
 * active child the next on that path, or (elsewhere) the one the file remembers, else its last child.
 */
export function importedRows(chat: ImportedChat, conversationId: string, authorId: string): ImportedRow[] {
  const ids = chat.messages.map(() => randomUUID());
  const onPath = new Set<number>();
  for (let at: number | null = chat.leaf; at !== null; at = chat.messages[at].parent) onPath.add(at);
  const lastChild = new Map<number, number>();
  chat.messages.forEach((m, i) => m.parent !== null && lastChild.set(m.parent, i));
  const pathChild = new Map<number, number>();
  for (const i of onPath) {
    const parent = chat.messages[i].parent;
    if (parent !== null) pathChild.set(parent, i);
  }
  return chat.messages.map((m, i) => {
    const parentId = m.parent === null ? null : ids[m.parent];
    const child = onPath.has(i) ? pathChild.get(i) : (m.activeChild ?? lastChild.get(i));
    return {
      id: ids[i],
      conversation_id: conversationId,
      role: m.role,
      content: m.content,
      status: m.status,
      author_id: m.role === 'USER' ? authorId : null,
      model: m.model,
      provider: m.provider,
      prompt_tokens: m.promptTokens,
      completion_tokens: m.completionTokens,
      total_tokens: m.totalTokens,
      finish_reason: m.finishReason,
      latency_ms: m.latencyMs,
      created_at: m.createdAt,
      completed_at: m.completedAt,
      parent_id: parentId,
      active: onPath.has(i),
      active_child_id: child === undefined ? null : ids[child],
      reply_to: m.role === 'ASSISTANT' ? parentId : null,
      moderation_flags: [],
    };
  });
}
