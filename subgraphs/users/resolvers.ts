import { canAccess } from '@chat/shared/auth';
import { conflict, forbidden, unauthenticated } from '@chat/shared/errors';
import { requireService } from '@chat/shared/identity';
import { rateLimited, type RateLimit } from '@chat/shared/rate-limit';
import { email, LIMITS, stripControl, text } from '@chat/shared/validate';
import type { Resolvers } from './generated/graphql';
import { verifyPassword, hashPassword } from './auth/passwords';
import type { Context } from './context';
import { creditLedger, creditLedgerEntry, grantCredits, holdCredits, settleCredits } from './credits/credits';
import { Persona, personaMutations, userPersonas } from './personas/personas';
import { deleteProviderKey, providerKey, setProviderKey, userProviderKeys } from './provider-keys/provider-keys';
import { setSpendingLimit, userSpendingLimit } from './credits/spending';
import { revokedSessions } from './auth/revocations';
import { accountMutations } from './account/account';
import { isSessionUser, startSession } from './auth/session-payload';
import type { UserRow } from './store';

const INVALID_LOGIN = 'Invalid email or password.';
/** Login attempts are counted over this window; sign-ups over an hour. */
export const LOGIN_WINDOW_MS = 5 * 60_000;
export const REGISTRATION_WINDOW_MS = 60 * 60_000;

/** The address key of a request that carries none (only possible when a subgraph is asked directly). */
const UNKNOWN_ADDRESS = 'unknown';

/**
 * RATE_LIMITED once any of the keys is over its limit (every key counts the attempt). One attempt:
 * refused, it is one refusal in the metrics, however many of its keys are over.
 */
async function throttle(ctx: Context, what: string, checks: RateLimit[]): Promise<void> {
  const decision = await ctx.rateLimiter.attempt(checks);
  if (!decision.allowed) throw rateLimited(decision, what);
}
const INVALID_REFRESH = 'The refresh token is not valid; sign in again.';

/**
 * The throttles a sign-in attempt counts against: its address, the (address, account) pair, and,
 * from an address the account has not signed in from before, the account itself. So guesses from
 * anywhere lock an account only for new addresses: its owner still signs in from a known one.
 */
function signInLimits(ctx: Context, account: string, from: string, knownAddress: boolean): RateLimit[] {
  const { loginsPerAddress, loginsPerAddressAndAccount, loginsPerAccount } = ctx.config.throttle;
  const limits: RateLimit[] = [
    [`login:address:${from}`, loginsPerAddress, LOGIN_WINDOW_MS],
    [`login:pair:${from}:${account}`, loginsPerAddressAndAccount, LOGIN_WINDOW_MS],
  ];
  if (!knownAddress) limits.push([`login:account:${account}`, loginsPerAccount, LOGIN_WINDOW_MS]);
  return limits;
}

/** email and credits: the user themself (also in their new session's payload) and admins only. */
function ownOnly<K extends 'email' | 'credits'>(field: K) {
  return (user: UserRow, _args: unknown, ctx: Context): UserRow[K] => {
    if (!isSessionUser(user) && !canAccess(ctx.viewer, user.id)) throw forbidden(`Only the user themself and admins may see ${field}.`);
    return user[field];
  };
}

export const resolvers: Resolvers = {
  Query: {
    me: (_root, _args, ctx) => (ctx.viewer ? ctx.loaders.user.load(ctx.viewer.id) : null),
    revokedSessions: (_root, { since }, ctx) => revokedSessions(ctx, since),
    // Internal: the messages service, acting for the key's owner; FORBIDDEN to anyone else.
    providerKey: (_root, args, ctx) => providerKey(ctx, args),
  },
  Mutation: {
    async register(_root, { input }, ctx) {
      await throttle(ctx, 'sign-ups from this address', [[`register:address:${ctx.clientAddress}`, ctx.config.throttle.registrationsPerAddress, REGISTRATION_WINDOW_MS]]);
      const address = email('email', input.email);
      const password = text('password', input.password, { min: LIMITS.passwordMin, max: LIMITS.passwordMax });
      const displayName = text('displayName', input.displayName, { min: 1, max: LIMITS.displayNameMax }).trim();
      const created = await ctx.store.createUser({
        email: address,
        passwordHash: await hashPassword(password),
        displayName,
        role: 'USER',
        credits: ctx.config.initialCredits,
      });
      if (!created) throw conflict('An account with this email already exists.');
      // ADMIN_EMAILS only bootstraps the first admin: whoever registers such an address later is
      // a user (nobody has verified they own it); further admins come from scripts/make-admin.ts.
      const user = ctx.config.auth.adminEmails.includes(address) ? ((await ctx.store.claimFirstAdmin(created.id)) ?? created) : created;
      return startSession(ctx, user);
    },
    async login(_root, { input }, ctx) {
      // Cleaned as register cleans them: control characters never reach the database, and a
      // password is compared as it was hashed (register strips them from passwords too).
      const account = stripControl(input.email).trim().toLowerCase();
      const from = ctx.clientAddress ?? UNKNOWN_ADDRESS;
      const user = await ctx.store.userByEmail(account);
      const knownAddress = user !== undefined && (await ctx.store.sessions.isKnownAddress(user.id, from));
      await throttle(ctx, 'sign-in attempts', signInLimits(ctx, account, from, knownAddress));
      const matches = await verifyPassword(stripControl(input.password), user?.password_hash ?? (await ctx.decoyHash));
      if (!user || !matches) throw unauthenticated(INVALID_LOGIN);
      await ctx.store.sessions.rememberAddress(user.id, from);
      return startSession(ctx, user);
    },
    async refreshSession(_root, { refreshToken }, ctx) {
      const rotation = await ctx.store.sessions.rotate(refreshToken, ctx.config.auth.refreshTokenTtlSeconds);
      if (typeof rotation === 'string') throw unauthenticated(INVALID_REFRESH);
      const user = await ctx.loaders.user.load(rotation.userId);
      if (!user) throw unauthenticated(INVALID_REFRESH);
      return startSession(ctx, user, rotation);
    },
    logout: (_root, { refreshToken }, ctx) => ctx.store.sessions.revokeByToken(refreshToken),
    grantCredits: (_root, args, ctx) => grantCredits(ctx, args),
    // Internal: the messages service, acting for the user a reply is for; FORBIDDEN to anyone else.
    holdCredits: (_root, { input }, ctx) => {
      requireService(ctx, 'messages');
      return holdCredits(ctx, input);
    },
    settleCredits: (_root, args, ctx) => {
      requireService(ctx, 'messages');
      return settleCredits(ctx, args);
    },
    setSpendingLimit: (_root, args, ctx) => setSpendingLimit(ctx, args),
    setProviderKey: (_root, args, ctx) => setProviderKey(ctx, args),
    deleteProviderKey: (_root, args, ctx) => deleteProviderKey(ctx, args),
    ...personaMutations,
    ...accountMutations,
  },
  CreditLedgerEntry: creditLedgerEntry,
  Persona,
  User: {
    __resolveReference: (ref, ctx) => ctx.loaders.user.load(ref.id),
    displayName: (user) => user.display_name,
    createdAt: (user) => user.created_at,
    email: ownOnly('email'),
    credits: ownOnly('credits'),
    creditLedger,
    personas: userPersonas,
    spendingLimit: userSpendingLimit,
    providerKeys: userProviderKeys,
  },
};
