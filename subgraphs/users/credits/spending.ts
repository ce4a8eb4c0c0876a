/** Spending limits in the API: set by the user themself, read by them and admins (the ledger enforces them in each hold). */
import { canAccess, requireViewer } from '@chat/shared/auth';
import { forbidden } from '@chat/shared/errors';
import { wholeNumber } from '@chat/shared/validate';
import type { Context } from '../context';
import type { SpendingLimit, SpendingPeriod, UserResolvers } from '../generated/graphql';
import { MAX_BALANCE } from './ledger';
import type { UserRow } from '../store';

/** setSpendingLimit: the caller's limit, at most `credits` (1 to MAX_BALANCE) per period; null removes it. */
export async function setSpendingLimit(ctx: Context, args: { period: SpendingPeriod; credits?: number | null }): Promise<UserRow> {
  const viewer = requireViewer(ctx.viewer);
  const limit = args.credits == null ? null : { period: args.period, credits: wholeNumber('credits', args.credits, 1, MAX_BALANCE) };
  await ctx.store.spendingLimits.set(viewer.id, limit);
  ctx.loaders.user.clear(viewer.id);
  const user = await ctx.loaders.user.load(viewer.id);
  if (!user) throw forbidden('This account no longer exists.');
  return user;
}

/** User.spendingLimit: the limit and what was spent in its period, for the user themself and admins. */
export const userSpendingLimit: UserResolvers['spendingLimit'] = async (user, _args, ctx): Promise<SpendingLimit | null> => {
  if (!canAccess(ctx.viewer, user.id)) throw forbidden("Only the user themself and admins may see a user's spending limit.");
  return (await ctx.store.spendingLimits.of(user.id)) ?? null;
};
