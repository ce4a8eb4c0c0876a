/**
 * Who may see and change what in the characters subgraph: characters by their visibility and
 * audience, and what hangs on a character (its image, its embedded lorebook) as the character goes.
 */
import { canAccess, requireViewer, type Viewer } from '@chat/shared/auth';
import { forbidden, notFound } from '@chat/shared/errors';
import type { Context } from './context';
import type { CharacterRow } from './store';

/** Who may see a character by its visibility alone: anyone when public, else its owner and admins. */
export function canSee(viewer: Viewer | null, character: CharacterRow): boolean {
  return character.visibility === 'PUBLIC' || canAccess(viewer, character.owner_id);
}

/**
 * Who may see a character: those of `canSee`, and users who started a conversation with it while
 * they could see it, so that an owner making it private does not take it from their conversations.
 * Once deleted (seen only as an entity, from conversations), being public counts for nothing: only
 * those users, its owner and admins still see it. Lists and search go by `canSee` alone.
 */
export async function mayView(ctx: Context, character: CharacterRow): Promise<boolean> {
  const byRole = character.deleted_at ? canAccess(ctx.viewer, character.owner_id) : canSee(ctx.viewer, character);
  return byRole || (await ctx.loaders.audience.load(character.id)) !== null;
}

/** A live character the viewer may see; NOT_FOUND otherwise. */
export async function visibleCharacter(ctx: Context, id: string): Promise<CharacterRow> {
  const character = await ctx.loaders.character.load(id);
  if (!character || character.deleted_at || !(await mayView(ctx, character))) throw notFound('Character');
  return character;
}

/** A live character the viewer may change; NOT_FOUND when missing or hidden, FORBIDDEN when visible but not theirs. */
export async function editableCharacter(ctx: Context, id: string): Promise<CharacterRow> {
  const viewer = requireViewer(ctx.viewer);
  const character = await visibleCharacter(ctx, id);
  if (!canAccess(viewer, character.owner_id)) throw forbidden('Only its owner and admins may change a character.');
  return character;
}
