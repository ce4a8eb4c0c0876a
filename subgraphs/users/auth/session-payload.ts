/**
 * The payload of a new session (register, login, refresh, changePassword): an access token naming
 * the session, its refresh token, and the user, whose own fields it may show although the request
 * carried no token of theirs yet.
 */
import type { Viewer } from '@chat/shared/auth';
import type { Context } from '../context';
import type { AuthPayload } from '../generated/graphql';
import type { SessionTokens } from './sessions';
import type { UserRow } from '../store';

/** An AuthPayload with the user as stored. */
export type Session = Omit<AuthPayload, 'user'> & { user: UserRow };

/**
 * The users handed back with a new session: the caller just proved to be them, though the request
 * carries no token yet. Copies, so no other path shares them.
 */
const sessionUsers = new WeakSet<UserRow>();

/** Whether `user` is the user of a session this request just started. */
export function isSessionUser(user: UserRow): boolean {
  return sessionUsers.has(user);
}

/**
 * A new access token and the session's refresh token: `session` from a rotation, else a new
 * session family. The access token names the family, so revoking it refuses the token too.
 */
export async function startSession(ctx: Context, user: UserRow, session?: SessionTokens): Promise<Session> {
  const viewer: Viewer = { id: user.id, role: user.role };
  const { familyId, refreshToken } = session ?? (await ctx.store.sessions.start(user.id, ctx.config.auth.refreshTokenTtlSeconds));
  const { token, expiresAt } = await ctx.keys.sign(viewer, familyId);
  const self = { ...user };
  sessionUsers.add(self);
  return { accessToken: token, refreshToken, expiresAt, user: self };
}
