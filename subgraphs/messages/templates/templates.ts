/** Message templates: a user's saved messages, their own only, sent with sendMessage(templateId), macros expanded. */
import { requireViewer } from '@chat/shared/auth';
import { badInput, conflict, forbidden, notFound } from '@chat/shared/errors';
import { expandMacros, type MacroNames } from '@chat/shared/macros';
import { LIMITS, text } from '@chat/shared/validate';
import type { Context } from '../context';
import type { MessageTemplateRow } from '../store';

/** The most templates one user may keep. */
export const TEMPLATES_MAX = 100;

/** MessageTemplate as the contract shapes it. */
export interface MessageTemplate {
  id: string;
  name: string;
  content: string;
  createdAt: Date;
}

const shaped = (row: MessageTemplateRow): MessageTemplate => ({ id: row.id, name: row.name, content: row.content, createdAt: row.created_at });

const templateName = (value: string) => text('name', value, { min: 1, max: LIMITS.nameMax }).trim();
const templateContent = (value: string) => text('content', value, { min: 1, max: LIMITS.messageMax });

/** User.messageTemplates: the user themself or an admin. */
export async function messageTemplates(ctx: Context, userId: string): Promise<MessageTemplate[]> {
  const viewer = requireViewer(ctx.viewer);
  if (viewer.id !== userId && viewer.role !== 'ADMIN') throw forbidden("Only the user themself or an admin may read a user's templates.");
  return (await ctx.store.templates.ofUser(userId)).map(shaped);
}

/** A template by reference: its owner's only (null for anyone else). */
export async function templateReference(ctx: Context, id: string): Promise<MessageTemplate | null> {
  if (!ctx.viewer) return null;
  const row = await ctx.store.templates.owned(id, ctx.viewer.id);
  return row ? shaped(row) : null;
}

export async function createMessageTemplate(ctx: Context, name: string, content: string): Promise<MessageTemplate> {
  const viewer = requireViewer(ctx.viewer);
  const row = await ctx.store.templates.create(viewer.id, templateName(name), templateContent(content), TEMPLATES_MAX);
  if (!row) throw conflict(`A user keeps at most ${TEMPLATES_MAX} message templates; delete one first.`);
  return shaped(row);
}

/** updateMessageTemplate: the caller's own (NOT_FOUND otherwise); what is left out stays. */
export async function updateMessageTemplate(ctx: Context, id: string, name?: string | null, content?: string | null): Promise<MessageTemplate> {
  const viewer = requireViewer(ctx.viewer);
  const changes = { ...(name != null ? { name: templateName(name) } : {}), ...(content != null ? { content: templateContent(content) } : {}) };
  const row = Object.keys(changes).length > 0 ? await ctx.store.templates.update(id, viewer.id, changes) : await ctx.store.templates.owned(id, viewer.id);
  if (!row) throw notFound('Message template');
  return shaped(row);
}

/** deleteMessageTemplate: the caller's own (NOT_FOUND otherwise). */
export async function deleteMessageTemplate(ctx: Context, id: string): Promise<boolean> {
  const viewer = requireViewer(ctx.viewer);
  if (!(await ctx.store.templates.remove(id, viewer.id))) throw notFound('Message template');
  return true;
}

/**
 * What sendMessage sends: `content` as given, or the caller's template with its macros expanded for this
 * conversation (`names`); exactly one of the two. NOT_FOUND for someone else's template.
 */
export async function messageContent(ctx: Context, input: { content?: string | null; templateId?: string | null }, names: () => MacroNames): Promise<string> {
  const viewer = requireViewer(ctx.viewer);
  if (input.templateId != null && input.content != null) throw badInput('templateId', 'cannot be combined with content');
  if (input.templateId == null) {
    if (input.content == null) throw badInput('content', 'is required (or templateId)');
    return input.content;
  }
  const template = await ctx.store.templates.owned(input.templateId, viewer.id);
  if (!template) throw notFound('Message template');
  return expandMacros(template.content, names());
}
