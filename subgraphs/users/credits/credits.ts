/** The credits API of the users subgraph: holds and settlements for replies, admins' grants, and each user's ledger. */
import { randomUUID } from 'node:crypto';
import { canAccess, requireViewer } from '@chat/shared/auth';
import { badInput, forbidden, notFound } from '@chat/shared/errors';
import { pageWindow, toConnection } from '@chat/shared/pagination';
import { isUuid, text, wholeNumber } from '@chat/shared/validate';
import type { Context } from '../context';
import { ledgerCursor, MAX_BALANCE, type CreditEntryRow, type CreditRefusal } from './ledger';
import { ownKeyOf } from '../provider-keys/provider-keys';
import type { UserRow } from '../store';

/** The longest idempotency key and reason a caller may give. */
const KEY_MAX = 200;
const REASON_MAX = 500;

/** What holdCredits answers: held, or why not; ownKey when the reply runs on the user's own key and costs nothing. */
export interface CreditHoldOutcome {
  held: boolean;
  balance: number;
  ownKey: boolean;
  refusedBy: CreditRefusal | null;
}

/**
 * holdCredits: takes a reply's most possible cost from the user it acts for, once per key; holds
 * nothing when the user has their own key for `provider` (that reply costs no credits).
 */
export async function holdCredits(
  ctx: Context,
  input: { key: string; replyId: string; amount: number; reason: string; provider?: string | null },
): Promise<CreditHoldOutcome> {
  const viewer = requireViewer(ctx.viewer);
  if (!isUuid(input.replyId)) throw badInput('replyId', 'must be a message id');
  if ((await ownKeyOf(ctx, viewer.id, input.provider)) !== undefined) {
    const user = await ctx.loaders.user.load(viewer.id);
    return { held: false, balance: user?.credits ?? 0, ownKey: true, refusedBy: null };
  }
  const outcome = await ctx.ledger.hold({
    userId: viewer.id,
    key: text('key', input.key, { min: 1, max: KEY_MAX }),
    replyId: input.replyId,
    amount: wholeNumber('amount', input.amount, 0, MAX_BALANCE),
    reason: text('reason', input.reason, { min: 1, max: REASON_MAX }),
  });
  return outcome.held
    ? { held: true, balance: outcome.entry.balance_after, ownKey: false, refusedBy: null }
    : { held: false, balance: outcome.balance, ownKey: false, refusedBy: outcome.refusedBy };
}

/** settleCredits: ends a hold, keeping what was used; false when there is no such hold. */
export async function settleCredits(ctx: Context, args: { key: string; used: number; reason: string }): Promise<boolean> {
  const key = text('key', args.key, { min: 1, max: KEY_MAX });
  const entry = await ctx.ledger.settle(key, wholeNumber('used', args.used, 0, MAX_BALANCE), text('reason', args.reason, { min: 1, max: REASON_MAX }));
  return entry !== undefined;
}

/** grantCredits: an admin adds credits to a user; NOT_FOUND for no such user, BAD_USER_INPUT past the largest balance. */
export async function grantCredits(ctx: Context, args: { userId: string; amount: number; reason: string }): Promise<UserRow> {
  if (requireViewer(ctx.viewer).role !== 'ADMIN') throw forbidden('Only admins may grant credits.');
  const amount = wholeNumber('amount', args.amount, 1, MAX_BALANCE);
  const reason = text('reason', args.reason, { min: 1, max: REASON_MAX }).trim();
  if (!isUuid(args.userId) || !(await ctx.loaders.user.load(args.userId))) throw notFound('User');
  const entry = await ctx.ledger.grant({ userId: args.userId, amount, reason, key: `grant:${randomUUID()}`, kind: 'GRANT' });
  if (!entry) throw badInput('amount', `would take the balance past ${MAX_BALANCE}`);
  ctx.audit.record({ admin: ctx.viewer!.id, action: 'grantCredits', target: args.userId, details: { amount } });
  ctx.loaders.user.clear(args.userId);
  return (await ctx.loaders.user.load(args.userId))!;
}

/** User.creditLedger: the user's movements, newest first, for the user themself and admins. */
export async function creditLedger(user: UserRow, args: { first?: number | null; after?: string | null }, ctx: Context) {
  if (!canAccess(ctx.viewer, user.id)) throw forbidden("Only the user themself and admins may see a user's ledger.");
  const window = pageWindow(args, ['timestamp', 'uuid']);
  return toConnection(await ctx.ledger.page(user.id, window), window, ledgerCursor);
}

/** A ledger row as the contract's CreditLedgerEntry. */
export const creditLedgerEntry = {
  balanceAfter: (row: CreditEntryRow) => row.balance_after,
  replyId: (row: CreditEntryRow) => row.reply_id,
  createdAt: (row: CreditEntryRow) => row.created_at,
};
