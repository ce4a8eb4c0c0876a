/**
 * A user's own account through the gateway (issue 19): updateProfile changes the display name;
 * changePassword checks the current password, ends every session of the account (refresh tokens at
 * once, access tokens through the gateway's revocation list within seconds) and answers a fresh
 * session that works; logoutEverywhere ends them all.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ErrorCode } from '@chat/shared/errors';
import { codeOf, waitUntil } from '../chat/helpers';
import { expectError, expectOk, START_TIMEOUT_MS } from '../e2e/helpers';
import { startTestSystem, type TestSystem } from '../support/system';

const PASSWORD = 'correct horse battery';
const LOGIN = /* GraphQL */ `mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken } }`;
const REFRESH = /* GraphQL */ `mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken refreshToken } }`;
const ME = /* GraphQL */ `{ me { id displayName } }`;
const UPDATE_PROFILE = /* GraphQL */ `mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { id displayName } }`;
const CHANGE_PASSWORD = /* GraphQL */ `mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) { accessToken refreshToken user { id email } } }`;
const LOGOUT_EVERYWHERE = /* GraphQL */ `mutation { logoutEverywhere }`;
/** The longest a revocation may take to reach the gateway here (the poll is 1 s; a loaded machine gets room). */
const REFUSAL_BOUND_MS = 10_000;

describe('account: profile, password, sessions', () => {
  let t: TestSystem;
  beforeAll(async () => {
    t = await startTestSystem('pglite');
  }, START_TIMEOUT_MS);
  afterAll(() => t?.stop());

  const signIn = async (email: string, password = PASSWORD) => expectOk(await t.gql(LOGIN, { input: { email, password } })).login as { accessToken: string; refreshToken: string };
  const refusedSoon = (token: string, what: string) =>
    waitUntil(async () => codeOf(await t.gql(ME, {}, token)) === ErrorCode.UNAUTHENTICATED, REFUSAL_BOUND_MS, what);

  it('updateProfile changes the display name others see; bad names are BAD_USER_INPUT and change nothing', async () => {
    const user = await t.signUp('Before');
    expect(expectOk(await t.gql(UPDATE_PROFILE, { input: { displayName: '  After  ' } }, user.token)).updateProfile).toEqual({ id: user.id, displayName: 'After' });
    expect(expectOk(await t.gql(ME, {}, user.token)).me.displayName).toBe('After');
    expectError(await t.gql(UPDATE_PROFILE, { input: { displayName: '   ' } }, user.token), ErrorCode.BAD_USER_INPUT, 'displayName');
    expectError(await t.gql(UPDATE_PROFILE, { input: { displayName: 'x'.repeat(101) } }, user.token), ErrorCode.BAD_USER_INPUT, 'displayName');
    expect(expectOk(await t.gql(UPDATE_PROFILE, { input: {} }, user.token)).updateProfile.displayName).toBe('After');
    expect(expectOk(await t.gql(ME, {}, user.token)).me.displayName).toBe('After');
    expectError(await t.gql(UPDATE_PROFILE, { input: { displayName: 'Anon' } }), ErrorCode.UNAUTHENTICATED);
  });

  it('changePassword refuses a wrong current password and a short new one, changing nothing', async () => {
    const user = await t.signUp('Careful');
    expectError(await t.gql(CHANGE_PASSWORD, { c: 'not my password', n: 'a brand new password' }, user.token), ErrorCode.UNAUTHENTICATED);
    expectError(await t.gql(CHANGE_PASSWORD, { c: PASSWORD, n: 'short' }, user.token), ErrorCode.BAD_USER_INPUT, 'newPassword');
    expectError(await t.gql(CHANGE_PASSWORD, { c: PASSWORD, n: 'a brand new password' }), ErrorCode.UNAUTHENTICATED);
    // Still the old password, and the session goes on.
    await signIn(user.email);
    expect(expectOk(await t.gql(ME, {}, user.token)).me.id).toBe(user.id);
  });

  it('changePassword ends every other session (refresh at once, access tokens within seconds) and answers a fresh one', async () => {
    const user = await t.signUp('Mover');
    const other = await signIn(user.email);
    const changed = expectOk(await t.gql(CHANGE_PASSWORD, { c: PASSWORD, n: 'a brand new password' }, user.token)).changePassword;
    expect(changed.user).toEqual({ id: user.id, email: user.email });

    // The other sessions' refresh tokens are refused at once; their access tokens soon after.
    expectError(await t.gql(REFRESH, { t: other.refreshToken }), ErrorCode.UNAUTHENTICATED);
    expectError(await t.gql(REFRESH, { t: user.refreshToken }), ErrorCode.UNAUTHENTICATED);
    await refusedSoon(other.accessToken, "the other session's access token to be refused");
    await refusedSoon(user.token, 'the old access token to be refused');

    // The fresh session works, its refresh token rotates, and only the new password signs in.
    expect(expectOk(await t.gql(ME, {}, changed.accessToken)).me.id).toBe(user.id);
    const rotated = expectOk(await t.gql(REFRESH, { t: changed.refreshToken })).refreshSession;
    expect(expectOk(await t.gql(ME, {}, rotated.accessToken)).me.id).toBe(user.id);
    expectError(await t.gql(LOGIN, { input: { email: user.email, password: PASSWORD } }), ErrorCode.UNAUTHENTICATED);
    await signIn(user.email, 'a brand new password');
  });

  it('logoutEverywhere ends every session of the caller, and nobody else\'s', async () => {
    const user = await t.signUp('Everywhere');
    const bystander = await t.signUp('Bystander');
    const other = await signIn(user.email);
    expect(expectOk(await t.gql(LOGOUT_EVERYWHERE, {}, user.token)).logoutEverywhere).toBe(true);
    expectError(await t.gql(REFRESH, { t: other.refreshToken }), ErrorCode.UNAUTHENTICATED);
    expectError(await t.gql(REFRESH, { t: user.refreshToken }), ErrorCode.UNAUTHENTICATED);
    await refusedSoon(other.accessToken, "the other session's access token to be refused");
    await refusedSoon(user.token, "the caller's access token to be refused");
    expect(expectOk(await t.gql(ME, {}, bystander.token)).me.id).toBe(bystander.id);
    // Signing in again starts a new session.
    const again = await signIn(user.email);
    expect(expectOk(await t.gql(ME, {}, again.accessToken)).me.id).toBe(user.id);
    expectError(await t.gql(LOGOUT_EVERYWHERE, {}), ErrorCode.UNAUTHENTICATED);
  });

  it('deleteAccount refuses a wrong password and the anonymous, erasing nothing', async () => {
    const user = await t.signUp('Staying');
    const DELETE_ACCOUNT = /* GraphQL */ `mutation($p: String!) { deleteAccount(password: $p) }`;
    expectError(await t.gql(DELETE_ACCOUNT, { p: 'not my password' }, user.token), ErrorCode.UNAUTHENTICATED);
    expectError(await t.gql(DELETE_ACCOUNT, { p: PASSWORD }), ErrorCode.UNAUTHENTICATED);
    expect(expectOk(await t.gql(ME, {}, user.token)).me.id).toBe(user.id);
    await signIn(user.email);
  });
});
