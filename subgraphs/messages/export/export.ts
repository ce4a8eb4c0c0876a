/** exportConversation: a conversation as a file, to its owner or an admin. */
import { requireViewer } from '@chat/shared/auth';
import { notFound } from '@chat/shared/errors';
import { mayRead } from '../access';
import { promptCharacter } from '../chat/prompt-sources';
import type { Context } from '../context';
import type { ConversationExportFormat } from '../generated/graphql';
import { ChatConversationDocument } from '../generated/peers/conversations';
import { siblingKey, type MessageRow } from '../store';
import type { ChatNames } from './chat-file';
import { toJson } from './json';
import { toMarkdown } from './markdown';
import { toSillyTavern } from './sillytavern';

/** ExportFile as the contract shapes it. */
export interface ExportFile {
  filename: string;
  mimeType: string;
  content: string;
}

/** Each format's file extension and media type. */
export const EXPORT_FORMATS: Record<ConversationExportFormat, { extension: string; mimeType: string }> = {
  JSON: { extension: 'json', mimeType: 'application/json' },
  MARKDOWN: { extension: 'md', mimeType: 'text/markdown' },
  SILLYTAVERN_JSONL: { extension: 'jsonl', mimeType: 'application/jsonl' },
};

/** exportConversation: NOT_FOUND unless the caller owns the conversation or is an admin. */
export async function exportConversation(ctx: Context, id: string, format: ConversationExportFormat): Promise<ExportFile> {
  requireViewer(ctx.viewer);
  if (!(await mayRead(ctx, id))) throw notFound('Conversation');
  const [tree, names] = await Promise.all([ctx.store.files.tree(id), chatNames(ctx, id)]);
  const { extension, mimeType } = EXPORT_FORMATS[format];
  return { filename: `conversation-${id}.${extension}`, mimeType, content: render(format, id, names, tree) };
}

function render(format: ConversationExportFormat, id: string, names: ChatNames, tree: MessageRow[]): string {
  if (format === 'JSON') return toJson(id, names, tree);
  const path = tree.filter((m) => m.active);
  if (format === 'MARKDOWN') return toMarkdown(names, path);
  const siblings = new Map<string, MessageRow[]>();
  for (const m of tree) siblings.set(siblingKey(m), [...(siblings.get(siblingKey(m)) ?? []), m]);
  return toSillyTavern(names, path, (m) => siblings.get(siblingKey(m)) ?? [m]);
}

/** The character's name and the name the user chats as; plain ones when the caller may not see them (an admin, a deleted character). */
async function chatNames(ctx: Context, id: string): Promise<ChatNames> {
  const { conversation } = await ctx.peers.conversations.call(ChatConversationDocument, { id }, { actingFor: ctx.viewer });
  if (!conversation) throw notFound('Conversation');
  try {
    const character = await promptCharacter(ctx, conversation);
    return { character: character.name, user: character.persona?.name || 'User' };
  } catch {
    return { character: 'Character', user: 'User' };
  }
}
