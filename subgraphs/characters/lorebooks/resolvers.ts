/**
 * Lorebooks in the API. Who sees a book: its owner and admins; a character's live embedded book,
 * also whoever may see the character. Anyone else gets NOT_FOUND, through `_entities` too.
 */
import { canAccess, requireViewer } from '@chat/shared/auth';
import { forbidden, notFound } from '@chat/shared/errors';
import { pageWindow, toConnection } from '@chat/shared/pagination';
import { mayView } from '../access';
import type { Context } from '../context';
import type { LorebookEntryResolvers, LorebookPosition, LorebookResolvers, MutationResolvers, QueryResolvers } from '../generated/graphql';
import type { LorebookRow } from '../tables';
import { readLorebookFile } from './import';
import { lorebookFromInput, POSITIONS } from './input';
import { LOREBOOK_DEFAULTS } from './model';
import { lorebookCursor } from './store';

/** Whether the viewer may read `book` (deleted ones: owner and admins only). */
async function mayRead(ctx: Context, book: LorebookRow): Promise<boolean> {
  if (canAccess(ctx.viewer, book.owner_id)) return true;
  if (book.deleted_at || !book.character_id) return false;
  const character = await ctx.loaders.character.load(book.character_id);
  return character !== null && !character.deleted_at && (await mayView(ctx, character));
}

/** A live book the viewer may change: NOT_FOUND when missing or hidden, FORBIDDEN when seen through a character that is not theirs. */
async function editable(ctx: Context, id: string): Promise<LorebookRow> {
  const viewer = requireViewer(ctx.viewer);
  const book = await ctx.loaders.lorebook.load(id);
  if (!book || book.deleted_at || !(await mayRead(ctx, book))) throw notFound('Lorebook');
  if (!canAccess(viewer, book.owner_id)) throw forbidden("Only its owner and admins may change a lorebook.");
  return book;
}

const API_POSITIONS = Object.fromEntries(Object.entries(POSITIONS).map(([api, card]) => [card, api])) as Record<string, LorebookPosition>;

export const lorebookQueries: Pick<QueryResolvers, 'lorebook' | 'lorebooks'> = {
  async lorebook(_root, { id }, ctx) {
    const book = await ctx.loaders.lorebook.load(id);
    return book && !book.deleted_at && canAccess(ctx.viewer, book.owner_id) ? book : null;
  },
  async lorebooks(_root, args, ctx) {
    const viewer = requireViewer(ctx.viewer);
    const window = pageWindow(args, ['timestamp', 'uuid']);
    const rows = await ctx.store.lorebooks.listOwned(viewer.id, window);
    for (const row of rows) ctx.loaders.lorebook.prime(row.id, row);
    return toConnection(rows, window, lorebookCursor);
  },
};

export const lorebookMutations: Pick<MutationResolvers, 'createLorebook' | 'updateLorebook' | 'deleteLorebook' | 'importLorebook'> = {
  async createLorebook(_root, { input }, ctx) {
    const viewer = requireViewer(ctx.viewer);
    return ctx.store.lorebooks.create(viewer.id, lorebookFromInput(input));
  },
  async updateLorebook(_root, { id, input }, ctx) {
    const current = await editable(ctx, id);
    const updated = await ctx.store.lorebooks.update(id, lorebookFromInput(input, current));
    if (!updated) throw notFound('Lorebook');
    return updated;
  },
  async deleteLorebook(_root, { id }, ctx) {
    await editable(ctx, id);
    return ctx.store.lorebooks.softDelete(id);
  },
  async importLorebook(_root, { file }, ctx) {
    const viewer = requireViewer(ctx.viewer);
    return ctx.store.lorebooks.create(viewer.id, readLorebookFile(file));
  },
};

/** Whether nothing of the book may enter a prompt any more: it is deleted, or its character is. */
async function retired(ctx: Context, book: LorebookRow): Promise<boolean> {
  if (book.deleted_at) return true;
  if (!book.character_id) return false;
  return Boolean((await ctx.loaders.character.load(book.character_id))?.deleted_at);
}

export const Lorebook: LorebookResolvers = {
  async __resolveReference(ref, ctx) {
    const book = await ctx.loaders.lorebook.load(ref.id);
    if (!book || !(await mayRead(ctx, book))) throw notFound('Lorebook');
    return book;
  },
  scanDepth: (book) => book.scan_depth ?? LOREBOOK_DEFAULTS.scanDepth,
  tokenBudget: (book) => book.token_budget ?? LOREBOOK_DEFAULTS.tokenBudget,
  recursiveScanning: (book) => book.recursive_scanning ?? LOREBOOK_DEFAULTS.recursiveScanning,
  entries: async (book, _args, ctx) => ((await retired(ctx, book)) ? [] : book.entries),
  owner: (book) => ({ id: book.owner_id }),
  async character(book, _args, ctx) {
    if (!book.character_id) return null;
    const character = await ctx.loaders.character.load(book.character_id);
    return character && (await mayView(ctx, character)) ? character : null;
  },
  createdAt: (book) => book.created_at,
  updatedAt: (book) => book.updated_at,
  deletedAt: (book) => book.deleted_at,
};

export const LorebookEntry: LorebookEntryResolvers = {
  secondaryKeys: (entry) => entry.secondary_keys,
  caseSensitive: (entry) => entry.case_sensitive,
  useRegex: (entry) => entry.use_regex,
  insertionOrder: (entry) => entry.insertion_order,
  position: (entry) => API_POSITIONS[entry.position],
};
