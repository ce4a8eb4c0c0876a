/** The Markdown export: the active path, readable: who said it, when, and what. */
import type { MessageRow } from '../store';
import type { ChatNames } from './chat-file';

/** The active path as a Markdown document. */
export function toMarkdown(names: ChatNames, path: readonly MessageRow[]): string {
  const speaker = (m: MessageRow) => (m.role === 'USER' ? names.user : m.role === 'SYSTEM' ? 'System' : names.character);
  const head = [`# Chat with ${names.character}`, '', `Exported ${new Date().toISOString()} · ${path.length} messages`, ''];
  const body = path.flatMap((m) => ['---', '', `**${speaker(m)}** · ${m.created_at.toISOString()}${m.status === 'COMPLETED' ? '' : ` · ${m.status.toLowerCase()}`}`, '', m.content, '']);
  return [...head, ...body].join('\n');
}
