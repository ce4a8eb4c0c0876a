import { canAccess, requireViewer, type Viewer } from '@chat/shared/auth';
import { badInput, conflict, forbidden, unauthenticated } from '@chat/shared/errors';
import { rateLimited } from '@chat/shared/rate-limit';
import { email, LIMITS, stripControl, text } from '@chat/shared/validate';
import type { AuthPayload, Resolvers } from './generated/graphql';
import { verifyPassword, hashPassword } from './passwords';
import type { Context } from './context';
import type { UserRow } from './store';

type Session = Omit<AuthPayload, 'user'> & { user: UserRow };

const INVALID_LOGIN = 'Invalid email or password.';
/** Login attempts are counted over this window; sign-ups over an hour. */
export const LOGIN_WINDOW_MS = 5 * 60_000;
export const REGISTRATION_WINDOW_MS = 60 * 60_000;

/** RATE_LIMITED once any of the keys is over its limit (every key counts the attempt). */
async function throttle(ctx: Context, what: string, checks: Array<[key: string, limit: number, windowMs: number]>): Promise<void> {
  const decisions = await Promise.all(checks.map(([key, limit, windowMs]) => ctx.rateLimiter.hit(key, limit, windowMs)));
  const refused = decisions.filter((d) => !d.allowed).sort((a, b) => b.retryAfterSeconds - a.retryAfterSeconds)[0];
  if (refused) throw rateLimited(refused, what);
}
const INVALID_REFRESH = 'The refresh token is not valid; sign in again.';

/**
 * The users handed back with a new session (register, login, refresh): the caller just proved
 * to be them, though the request carries no token yet. Copies, so no other path shares them.
 */
const sessionUsers = new WeakSet<UserRow>();

async function startSession(ctx: Context, user: UserRow, familyId?: string): Promise<Session> {
  const viewer: Viewer = { id: user.id, role: user.role };
  const { token, expiresAt } = await ctx.keys.sign(viewer);
  const refreshToken = await ctx.store.issueRefreshToken(user.id, ctx.config.auth.refreshTokenTtlSeconds, familyId);
  const self = { ...user };
  sessionUsers.add(self);
  return { accessToken: token, refreshToken, expiresAt, user: self };
}

/** email and credits: the user themself (also in their new session's payload) and admins only. */
function ownOnly<K extends 'email' | 'credits'>(field: K) {
  return (user: UserRow, _args: unknown, ctx: Context): UserRow[K] => {
    if (!sessionUsers.has(user) && !canAccess(ctx.viewer, user.id)) throw forbidden(`Only the user themself and admins may see ${field}.`);
    return user[field];
  };
}

export const resolvers: Resolvers = {
  Query: {
    me: (_root, _args, ctx) => (ctx.viewer ? ctx.loaders.user.load(ctx.viewer.id) : null),
  },
  Mutation: {
    async register(_root, { input }, ctx) {
      await throttle(ctx, 'sign-ups from this address', [[`register:address:${ctx.clientAddress}`, ctx.config.throttle.registrationsPerAddress, REGISTRATION_WINDOW_MS]]);
      const address = email('email', input.email);
      const password = text('password', input.password, { min: LIMITS.passwordMin, max: LIMITS.passwordMax });
      const displayName = text('displayName', input.displayName, { min: 1, max: LIMITS.displayNameMax }).trim();
      const user = await ctx.store.createUser({
        email: address,
        passwordHash: await hashPassword(password),
        displayName,
        role: ctx.config.auth.adminEmails.includes(address) ? 'ADMIN' : 'USER',
        credits: ctx.config.initialCredits,
      });
      if (!user) throw conflict('An account with this email already exists.');
      return startSession(ctx, user);
    },
    async login(_root, { input }, ctx) {
      // Cleaned as register cleans them: control characters never reach the database, and a
      // password is compared as it was hashed (register strips them from passwords too).
      const address = stripControl(input.email).trim().toLowerCase();
      await throttle(ctx, 'sign-in attempts', [
        [`login:account:${address}`, ctx.config.throttle.loginsPerAccount, LOGIN_WINDOW_MS],
        [`login:address:${ctx.clientAddress}`, ctx.config.throttle.loginsPerAddress, LOGIN_WINDOW_MS],
      ]);
      const user = await ctx.store.userByEmail(address);
      const matches = await verifyPassword(stripControl(input.password), user?.password_hash ?? (await ctx.decoyHash));
      if (!user || !matches) throw unauthenticated(INVALID_LOGIN);
      return startSession(ctx, user);
    },
    async refreshSession(_root, { refreshToken }, ctx) {
      const consumed = await ctx.store.consumeRefreshToken(refreshToken);
      if (typeof consumed === 'string') throw unauthenticated(INVALID_REFRESH);
      const user = await ctx.loaders.user.load(consumed.userId);
      if (!user) throw unauthenticated(INVALID_REFRESH);
      return startSession(ctx, user, consumed.familyId);
    },
    logout: (_root, { refreshToken }, ctx) => ctx.store.revokeByToken(refreshToken),
    async chargeCredits(_root, { amount, key }, ctx) {
      const viewer = requireViewer(ctx.viewer);
      if (!Number.isInteger(amount) || amount < 0) throw badInput('amount', 'must be a whole number >= 0');
      const key_ = text('key', key, { min: 1, max: 200 });
      const balance = await ctx.store.charge(viewer.id, amount, `${viewer.id}:${key_}`, key_);
      if (balance === undefined) throw unauthenticated('The account no longer exists.');
      return balance;
    },
  },
  User: {
    __resolveReference: (ref, ctx) => ctx.loaders.user.load(ref.id),
    displayName: (user) => user.display_name,
    createdAt: (user) => user.created_at,
    email: ownOnly('email'),
    credits: ownOnly('credits'),
  },
};
