/**
 * Revoked sessions at the gateway (issue 14, item 12): an access token stayed valid for up to its
 * 15 minutes after its session ended. Now, once a session is revoked (logout, a replayed refresh
 * token), the gateway refuses its access tokens within about a second (REVOCATION_POLL_MS) over
 * HTTP and at connection_init, and closes the session's open sockets with 4403, while the user's
 * other sessions go on. The users subgraph's revokedSessions answers the gateway's own calls only.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ErrorCode } from '@chat/shared/errors';
import { sessionIdOf } from '@chat/shared/session-revocation';
import { SESSION_REVOKED_MESSAGE } from '../../gateway/src/revocations';
import { closedWithin, codeOf, rawSocket, waitUntil, type RawSocket } from '../chat/helpers';
import { expectError, expectOk, START_TIMEOUT_MS } from '../e2e/helpers';
import { startTestSystem, type TestSystem } from '../support/system';

const LOGIN = /* GraphQL */ `mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken } }`;
const REFRESH = /* GraphQL */ `mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken refreshToken } }`;
const LOGOUT = /* GraphQL */ `mutation($t: String!) { logout(refreshToken: $t) }`;
const ME = /* GraphQL */ `{ me { id } }`;
const REVOKED_SESSIONS = /* GraphQL */ `query($since: DateTime!) { revokedSessions(since: $since) { sessionId revokedAt } }`;
const PASSWORD = 'correct horse battery';
/** The longest a revocation may take to reach the gateway here: the default poll is 1 s; a loaded machine gets room. */
const REFUSAL_BOUND_MS = 5_000;

describe('revoked sessions at the gateway', () => {
  let t: TestSystem;
  beforeAll(async () => {
    t = await startTestSystem('pglite');
  }, START_TIMEOUT_MS);
  afterAll(() => t?.stop());

  /** A second session (another sign-in) of `email`. */
  const signIn = async (email: string) => expectOk(await t.gql(LOGIN, { input: { email, password: PASSWORD } })).login as { accessToken: string; refreshToken: string };

  /** Waits until the gateway refuses `token`, failing after REFUSAL_BOUND_MS; returns the refusal. */
  async function refusedSoon(token: string) {
    let last = await t.gql(ME, {}, token);
    await waitUntil(
      async () => {
        last = await t.gql(ME, {}, token);
        return codeOf(last) === ErrorCode.UNAUTHENTICATED;
      },
      REFUSAL_BOUND_MS,
      'the gateway to refuse the access token of the revoked session',
    );
    return last;
  }

  /** A socket opened with `token`; resolves once acknowledged (fails if refused). */
  async function openSocket(token: string): Promise<RawSocket> {
    const socket = rawSocket(t.gatewayUrl);
    await socket.opened;
    socket.send({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } });
    await socket.next('connection_ack');
    return socket;
  }

  it('refuses the access token of a logged-out session within seconds, while another session of the user goes on', async () => {
    const user = await t.signUp('Leaver');
    const other = await signIn(user.email);
    expect(expectOk(await t.gql(ME, {}, user.token)).me.id).toBe(user.id);

    expect(expectOk(await t.gql(LOGOUT, { t: user.refreshToken })).logout).toBe(true);
    const refused = await refusedSoon(user.token);
    expect(refused.status).toBe(401);
    expect(refused.errors?.[0]?.message).toBe(SESSION_REVOKED_MESSAGE);
    expect(refused.data?.me ?? null).toBeNull();

    // The other sign-in is another session: its token and its refresh token still work.
    expect(expectOk(await t.gql(ME, {}, other.accessToken)).me.id).toBe(user.id);
    const rotated = expectOk(await t.gql(REFRESH, { t: other.refreshToken })).refreshSession;
    expect(expectOk(await t.gql(ME, {}, rotated.accessToken)).me.id).toBe(user.id);
    // And it stays refused: the revocation is kept while the token lives.
    expectError(await t.gql(ME, {}, user.token), ErrorCode.UNAUTHENTICATED);
  });

  it("closes an open graphql-ws socket of the logged-out session with 4403; the other session's socket stays", async () => {
    const user = await t.signUp('Socket');
    const other = await signIn(user.email);
    const leaving = await openSocket(user.token);
    const staying = await openSocket(other.accessToken);

    expect(expectOk(await t.gql(LOGOUT, { t: user.refreshToken })).logout).toBe(true);
    const { code } = await closedWithin(leaving, REFUSAL_BOUND_MS);
    expect(code).toBe(4403);

    // The other session's socket still answers.
    staying.send({ id: 'me', type: 'subscribe', payload: { query: ME } });
    const answer = await staying.next('next');
    expect(answer.payload.data.me.id).toBe(user.id);
    staying.ws.close();
  });

  it("refuses a new socket whose token is a revoked session's, at connection_init, with 4403", async () => {
    const user = await t.signUp('Late');
    expect(expectOk(await t.gql(LOGOUT, { t: user.refreshToken })).logout).toBe(true);
    await refusedSoon(user.token);

    const socket = rawSocket(t.gatewayUrl);
    await socket.opened;
    socket.send({ type: 'connection_init', payload: { authorization: `Bearer ${user.token}` } });
    expect((await closedWithin(socket, REFUSAL_BOUND_MS)).code).toBe(4403);
    expect(socket.messages.map((m) => m.type)).not.toContain('connection_ack');
  });

  it("revokes every access token of a family whose used refresh token is replayed (a stolen copy), and only that family's", async () => {
    const user = await t.signUp('Victim');
    const other = await signIn(user.email);
    const rotated = expectOk(await t.gql(REFRESH, { t: user.refreshToken })).refreshSession;
    const socket = await openSocket(rotated.accessToken);

    // The thief replays the used refresh token: the family is revoked, with both of its access tokens.
    expectError(await t.gql(REFRESH, { t: user.refreshToken }), ErrorCode.UNAUTHENTICATED);
    await refusedSoon(rotated.accessToken);
    await refusedSoon(user.token);
    expect((await closedWithin(socket, REFUSAL_BOUND_MS)).code).toBe(4403);
    expect(expectOk(await t.gql(ME, {}, other.accessToken)).me.id).toBe(user.id);
  });

  it('answers revokedSessions to the gateway only, and never through it', async () => {
    const user = await t.signUp('Listed');
    const since = new Date(Date.now() - 60_000).toISOString();
    const sid = sessionIdOf(user.token);
    expect(sid).toEqual(expect.any(String));
    expect(expectOk(await t.gql(LOGOUT, { t: user.refreshToken })).logout).toBe(true);

    // The gateway's own signed call: the session is listed.
    const listed = expectOk(await t.subgraphGql('users', REVOKED_SESSIONS, { since })).revokedSessions as Array<{ sessionId: string; revokedAt: string }>;
    expect(listed.map((s) => s.sessionId)).toContain(sid);

    // Another service, even acting for the user, is refused; a client cannot name the field at the gateway.
    expectError(await t.subgraphGql('users', REVOKED_SESSIONS, { since }, { as: 'messages', actingFor: { id: user.id, role: 'USER' } }), ErrorCode.FORBIDDEN);
    const viaGateway = await t.gql(REVOKED_SESSIONS, { since });
    expect(viaGateway.data).toBeUndefined();
    expect(viaGateway.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });
});
