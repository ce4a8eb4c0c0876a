/**
 * A user's own account: their display name, their password, and their sessions. Each mutation acts
 * on the caller alone (UNAUTHENTICATED when anonymous).
 */
import { requireViewer } from '@chat/shared/auth';
import { unauthenticated } from '@chat/shared/errors';
import { rateLimited } from '@chat/shared/rate-limit';
import { LIMITS, stripControl, text } from '@chat/shared/validate';
import type { Context } from '../context';
import type { MutationResolvers } from '../generated/graphql';
import { hashPassword, verifyPassword } from '../auth/passwords';
import { startSession } from '../auth/session-payload';
import type { UserRow } from '../store';

/** Password checks of one account (changePassword, deleteAccount) are counted over this window, as sign-ins are. */
export const PASSWORD_CHECK_WINDOW_MS = 5 * 60_000;

/** What a wrong current password is refused with. */
export const WRONG_PASSWORD = 'The current password is not correct.';

/**
 * The caller's account, once `password` is theirs: throttled per account as sign-ins are (a stolen
 * access token must not become a password oracle), UNAUTHENTICATED when wrong or when the account is gone.
 */
export async function checkOwnPassword(ctx: Context, password: string): Promise<UserRow> {
  const viewer = requireViewer(ctx.viewer);
  const decision = await ctx.rateLimiter.attempt([[`password:account:${viewer.id}`, ctx.config.throttle.loginsPerAddressAndAccount, PASSWORD_CHECK_WINDOW_MS]]);
  if (!decision.allowed) throw rateLimited(decision, 'password attempts');
  const user = await ctx.loaders.user.load(viewer.id);
  if (!user || !(await verifyPassword(stripControl(password), user.password_hash))) throw unauthenticated(WRONG_PASSWORD);
  return user;
}

export const accountMutations: Pick<MutationResolvers, 'updateProfile' | 'changePassword' | 'logoutEverywhere' | 'deleteAccount'> = {
  async updateProfile(_root, { input }, ctx) {
    const viewer = requireViewer(ctx.viewer);
    const user = input.displayName == null
      ? await ctx.loaders.user.load(viewer.id)
      : await ctx.store.setDisplayName(viewer.id, text('displayName', input.displayName, { min: 1, max: LIMITS.displayNameMax }).trim());
    if (!user) throw unauthenticated();
    return user;
  },
  /**
   * Every session of the account ends with the old password, the caller's own included, and the
   * caller gets a fresh one: a thief who had any session (or its refresh token) is out.
   */
  async changePassword(_root, { currentPassword, newPassword }, ctx) {
    const user = await checkOwnPassword(ctx, currentPassword);
    const password = text('newPassword', newPassword, { min: LIMITS.passwordMin, max: LIMITS.passwordMax });
    const changed = await ctx.store.changePassword(user.id, await hashPassword(password));
    if (!changed) throw unauthenticated();
    return startSession(ctx, changed);
  },
  async logoutEverywhere(_root, _args, ctx) {
    const viewer = requireViewer(ctx.viewer);
    await ctx.store.sessions.revokeAllOf(viewer.id);
    return true;
  },
  /**
   * Records the erasure of the caller's account (account/saga-store.ts) and returns: from that moment the
   * account cannot sign in and every session has ended; the worker erases the rest, in every
   * subgraph, however long a subgraph is away. Asked twice, there is still one erasure.
   */
  async deleteAccount(_root, { password }, ctx) {
    const user = await checkOwnPassword(ctx, password);
    if (!(await ctx.store.saga.begin(user.id))) throw unauthenticated();
    ctx.loaders.user.clear(user.id);
    ctx.erasures.kick();
    return true;
  },
};
