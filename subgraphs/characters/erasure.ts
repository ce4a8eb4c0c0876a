/**
 * The characters subgraph's part of erasing a user (deleteAccount's saga, driven by the users
 * subgraph). Their characters that other users talk with (an audience row of someone else's) stay,
 * owned by the placeholder DELETED_USER_ID, with their images and embedded lorebook, so those
 * conversations go on; every other row of theirs goes. A new table holding a user's rows is one
 * more line in CHARACTERS_ERASURE.
 */
import { sql, type Kysely } from 'kysely';
import { DELETED_USER_ID, eraseRows, type TableErasure } from '@chat/shared/erasure';
import { badInput } from '@chat/shared/errors';
import { requireService } from '@chat/shared/identity';
import { isUuid } from '@chat/shared/validate';
import type { Context } from './context';

/** The user's characters (those kept have changed owner by the time these run). */
const THEIR_CHARACTERS = { table: 'characters', column: 'owner_id', key: 'id' } as const;

/** The user's rows, children before the rows they reference. */
export const CHARACTERS_ERASURE: readonly TableErasure[] = [
  { table: 'character_audience', column: 'user_id' },
  { table: 'character_audience', column: 'character_id', via: THEIR_CHARACTERS },
  { table: 'character_images', column: 'character_id', via: THEIR_CHARACTERS },
  { table: 'lorebooks', column: 'character_id', via: THEIR_CHARACTERS },
  { table: 'lorebooks', column: 'owner_id' },
  { table: 'characters', column: 'owner_id' },
];

/** Gives the user's characters that others talk with, and their embedded lorebooks, to the placeholder owner. */
async function keepForOthers(tx: Kysely<any>, userId: string): Promise<number> {
  const kept = sql`SELECT c.id FROM characters c WHERE c.owner_id = ${userId}
    AND EXISTS (SELECT 1 FROM character_audience a WHERE a.character_id = c.id AND a.user_id <> ${userId})`;
  await sql`UPDATE lorebooks SET owner_id = ${DELETED_USER_ID} WHERE character_id IN (${kept})`.execute(tx);
  const result = await sql`UPDATE characters SET owner_id = ${DELETED_USER_ID} WHERE id IN (${kept})`.execute(tx);
  return Number(result.numAffectedRows ?? 0);
}

/** eraseUserData: the users service only, acting for the user being erased. Idempotent: a repeat finds nothing more. */
export async function eraseUserData(ctx: Context, userId: string): Promise<boolean> {
  const actingFor = requireService(ctx, 'users');
  if (!isUuid(userId) || actingFor.id !== userId) throw badInput('userId', 'must be the user the call acts for');
  await ctx.store.transaction(async (tx) => {
    await keepForOthers(tx, userId);
    await eraseRows(tx, userId, CHARACTERS_ERASURE);
  });
  return true;
}
