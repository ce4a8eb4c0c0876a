/**
 * The conversations subgraph's part of erasing a user (deleteAccount's saga, driven by the users
 * subgraph). A new table holding a user's rows is one more line in CONVERSATIONS_ERASURE.
 */
import { eraseRows, type TableErasure } from '@chat/shared/erasure';
import { badInput } from '@chat/shared/errors';
import { requireService } from '@chat/shared/identity';
import { isUuid } from '@chat/shared/validate';
import type { Context } from './context';

/** The user's rows, children before the rows they reference. */
export const CONVERSATIONS_ERASURE: readonly TableErasure[] = [{ table: 'conversations', column: 'user_id' }];

/** eraseUserData: the users service only, acting for the user being erased. Idempotent: a repeat finds nothing more. */
export async function eraseUserData(ctx: Context, userId: string): Promise<boolean> {
  const actingFor = requireService(ctx, 'users');
  if (!isUuid(userId) || actingFor.id !== userId) throw badInput('userId', 'must be the user the call acts for');
  await ctx.store.transaction((tx) => eraseRows(tx, userId, CONVERSATIONS_ERASURE));
  return true;
}
