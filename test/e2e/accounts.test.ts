/** Accounts through the gateway: registration, login, sessions and who may see what of a user. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { ENGINES, startTestSystem, uniqueName, type TestSystem } from '../support/system';
import { createCharacter, errorCodes, expectError, expectOk, START_TIMEOUT_MS } from './helpers';

const REGISTER = /* GraphQL */ `
  mutation($input: RegisterInput!) {
    register(input: $input) { accessToken refreshToken expiresAt user { id email displayName role credits createdAt } }
  }`;
const LOGIN = /* GraphQL */ `mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken user { id email } } }`;
const REFRESH = /* GraphQL */ `mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken refreshToken user { id } } }`;
const LOGOUT = /* GraphQL */ `mutation($t: String!) { logout(refreshToken: $t) }`;
const ME = /* GraphQL */ `{ me { id email displayName role credits } }`;
const PASSWORD = 'correct horse battery';

/** An Ed25519 signing key, the way the users subgraph expects JWT_PRIVATE_JWK. */
async function signingJwk(): Promise<JWK> {
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  return { ...(await exportJWK(privateKey)), kid: randomUUID(), alg: 'EdDSA' };
}

/** An access token signed with `jwk`; `claims` and `header` override the defaults a real token has. */
async function forgeToken(jwk: JWK, claims: { sub: string; iss: string; aud: string; exp: number; role?: string }, alg = 'EdDSA'): Promise<string> {
  const key = await importJWK(jwk, alg);
  return new SignJWT({ role: claims.role ?? 'USER' })
    .setProtectedHeader({ alg, kid: jwk.kid, typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuer(claims.iss)
    .setAudience(claims.aud)
    .setIssuedAt()
    .setExpirationTime(claims.exp)
    .sign(key);
}

describe.each(ENGINES)('accounts (%s)', (engine) => {
  let t: TestSystem;
  let systemKey: JWK;
  let previousKey: JWK;

  beforeAll(async () => {
    // The system signs with a key the test knows, so it can forge expired and misaddressed tokens.
    systemKey = await signingJwk();
    previousKey = await signingJwk();
    const { d: _private, ...previousPublic } = previousKey;
    t = await startTestSystem(engine, { JWT_PRIVATE_JWK: JSON.stringify(systemKey), JWT_PREVIOUS_JWKS: JSON.stringify([previousPublic]) });
  }, START_TIMEOUT_MS);
  afterAll(() => t?.stop());

  const register = (input: { email: string; password?: string; displayName?: string }) =>
    t.gql(REGISTER, { input: { password: PASSWORD, displayName: 'Someone', ...input } });

  it('registers a user with tokens, a normalised email and the default credits', async () => {
    const email = `${uniqueName('reg')}@example.com`;
    const res = await register({ email: `  ${email.toUpperCase()} `, displayName: '  Ada Lovelace ' });
    const { register: payload } = expectOk(res);
    expect(payload.accessToken).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(payload.refreshToken.length).toBeGreaterThanOrEqual(32);
    expect(new Date(payload.expiresAt).getTime()).toBeGreaterThan(Date.now());
    expect(payload.user).toMatchObject({ email, displayName: 'Ada Lovelace', role: 'USER', credits: 100000 });
    expect(Date.now() - new Date(payload.user.createdAt).getTime()).toBeLessThan(60_000);
    const me = expectOk(await t.gql(ME, {}, payload.accessToken)).me;
    expect(me).toEqual({ id: payload.user.id, email, displayName: 'Ada Lovelace', role: 'USER', credits: 100000 });
  });

  it('refuses a second account with the same email, whatever its case, as CONFLICT', async () => {
    const email = `${uniqueName('dup')}@example.com`;
    expectOk(await register({ email }));
    const again = await register({ email, password: 'another password 123' });
    expectError(again, 'CONFLICT');
    expect(again.data?.register ?? null).toBeNull();
    expectError(await register({ email: email.toUpperCase() }), 'CONFLICT');
    // The first account is untouched: its password still signs in.
    expectOk(await t.gql(LOGIN, { input: { email, password: PASSWORD } }));
  });

  it('logs in with the right password and the tokens work', async () => {
    const user = await t.signUp('Logger');
    const res = await t.gql(LOGIN, { input: { email: ` ${user.email.toUpperCase()}`, password: PASSWORD } });
    const { login } = expectOk(res);
    expect(login.user).toEqual({ id: user.id, email: user.email });
    expect(login.refreshToken).not.toBe(user.refreshToken);
    expect(expectOk(await t.gql(ME, {}, login.accessToken)).me.id).toBe(user.id);
  });

  it('spends the same password-hashing work on an unknown email as on a wrong password', async () => {
    const users = [await t.signUp(), await t.signUp()];
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const timed = async (email: string, password: string) => {
      const started = performance.now();
      expectError(await t.gql(LOGIN, { input: { email, password } }), 'UNAUTHENTICATED');
      return performance.now() - started;
    };
    const wrongPassword: number[] = [];
    const unknownEmail: number[] = [];
    for (let i = 0; i < 6; i += 1) {
      wrongPassword.push(await timed(users[i % 2].email, 'not the password'));
      unknownEmail.push(await timed(`${uniqueName('nobody')}@example.com`, 'not the password'));
    }
    // Without the decoy hash an unknown email answers in well under half the time (no scrypt at all).
    expect(median(unknownEmail)).toBeGreaterThan(median(wrongPassword) * 0.6);
  });

  it('gives the same UNAUTHENTICATED error for a wrong password and an unknown email', async () => {
    const user = await t.signUp();
    const wrongPassword = await t.gql(LOGIN, { input: { email: user.email, password: 'not the password' } });
    const unknownEmail = await t.gql(LOGIN, { input: { email: `${uniqueName('nobody')}@example.com`, password: PASSWORD } });
    expectError(wrongPassword, 'UNAUTHENTICATED');
    expectError(unknownEmail, 'UNAUTHENTICATED');
    expect(wrongPassword.data?.login ?? null).toBeNull();
    expect(unknownEmail.data?.login ?? null).toBeNull();
    expect(wrongPassword.errors![0].message).toBe(unknownEmail.errors![0].message);
  });

  it('treats control characters in credentials as register does, never as a server error', async () => {
    const email = `${uniqueName('ctl')}@example.com`;
    const password = 'bell\u0007 in my password';
    expectOk(await register({ email, password }));
    expectOk(await t.gql(LOGIN, { input: { email, password } }));
    expectError(await t.gql(LOGIN, { input: { email: `nul\u0000${email}`, password } }), 'UNAUTHENTICATED');
  });

  it('answers me with null when anonymous and with the user when signed in', async () => {
    const anonymous = await t.gql(ME);
    expect(anonymous).toEqual({ status: 200, data: { me: null }, errors: undefined });
    const user = await t.signUp('Mia');
    expect(expectOk(await t.gql(ME, {}, user.token)).me).toMatchObject({ id: user.id, email: user.email, displayName: 'Mia' });
  });

  it('rotates the refresh token: the new tokens work and the old refresh token is refused', async () => {
    const user = await t.signUp();
    const first = expectOk(await t.gql(REFRESH, { t: user.refreshToken })).refreshSession;
    expect(first.user.id).toBe(user.id);
    expect(first.refreshToken).not.toBe(user.refreshToken);
    expect(expectOk(await t.gql(ME, {}, first.accessToken)).me.id).toBe(user.id);
    // The rotated token rotates again.
    const second = expectOk(await t.gql(REFRESH, { t: first.refreshToken })).refreshSession;
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(expectOk(await t.gql(ME, {}, second.accessToken)).me.id).toBe(user.id);
    // The old one is spent, and an access token is no refresh token.
    expectError(await t.gql(REFRESH, { t: user.refreshToken }), 'UNAUTHENTICATED');
    expectError(await t.gql(REFRESH, { t: user.token }), 'UNAUTHENTICATED');
  });

  it('revokes the whole session family when a used refresh token is replayed', async () => {
    const user = await t.signUp();
    const other = expectOk(await t.gql(LOGIN, { input: { email: user.email, password: PASSWORD } })).login;
    const rotated = expectOk(await t.gql(REFRESH, { t: user.refreshToken })).refreshSession;
    expectError(await t.gql(REFRESH, { t: user.refreshToken }), 'UNAUTHENTICATED');
    // The token issued by the rotation dies with its family...
    expectError(await t.gql(REFRESH, { t: rotated.refreshToken }), 'UNAUTHENTICATED');
    // ...while a separate login of the same user goes on.
    expectOk(await t.gql(REFRESH, { t: other.refreshToken }));
  });

  it('logs out: the refresh token stops working; an unknown token logs nothing out', async () => {
    const user = await t.signUp();
    expect(expectOk(await t.gql(LOGOUT, { t: user.refreshToken })).logout).toBe(true);
    const refused = await t.gql(REFRESH, { t: user.refreshToken });
    expectError(refused, 'UNAUTHENTICATED');
    expect(expectOk(await t.gql(LOGOUT, { t: 'no-such-token' })).logout).toBe(false);
    // Logging out after a rotation ends the rotated session too.
    const again = expectOk(await t.gql(LOGIN, { input: { email: user.email, password: PASSWORD } })).login;
    const rotated = expectOk(await t.gql(REFRESH, { t: again.refreshToken })).refreshSession;
    expect(expectOk(await t.gql(LOGOUT, { t: rotated.refreshToken })).logout).toBe(true);
    expectError(await t.gql(REFRESH, { t: rotated.refreshToken }), 'UNAUTHENTICATED');
  });

  it('refuses garbage, tampered, foreign, expired and misaddressed access tokens as UNAUTHENTICATED', async () => {
    const user = await t.signUp();
    const victim = await t.signUp();
    const [header, payload, signature] = user.token.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    const tampered = [header, Buffer.from(JSON.stringify({ ...claims, sub: victim.id, role: 'ADMIN' })).toString('base64url'), signature].join('.');
    const unsigned = [
      Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url'),
      Buffer.from(JSON.stringify({ ...claims, role: 'ADMIN' })).toString('base64url'),
      '',
    ].join('.');
    const { iss, aud } = { iss: t.config.auth.issuer, aud: t.config.auth.audience };
    const later = Math.floor(Date.now() / 1000) + 600;
    const foreignKey = { ...(await signingJwk()), kid: systemKey.kid };
    const tokens: Record<string, string> = {
      garbage: 'garbage',
      truncated: user.token.slice(0, -5),
      tampered,
      unsigned,
      foreign: await forgeToken(foreignKey, { sub: user.id, iss, aud, exp: later }),
      expired: await forgeToken(systemKey, { sub: user.id, iss, aud, exp: Math.floor(Date.now() / 1000) - 60 }),
      wrongAudience: await forgeToken(systemKey, { sub: user.id, iss, aud: 'someone-else', exp: later }),
      wrongIssuer: await forgeToken(systemKey, { sub: user.id, iss: 'someone-else', aud, exp: later }),
    };
    // The forging itself is sound: the same claims, properly addressed, are accepted.
    const genuine = await forgeToken(systemKey, { sub: user.id, iss, aud, exp: later });
    expect(expectOk(await t.gql(ME, {}, genuine)).me.id).toBe(user.id);
    for (const [kind, token] of Object.entries(tokens)) {
      const res = await t.gql(ME, {}, token);
      expect([kind, errorCodes(res)]).toEqual([kind, ['UNAUTHENTICATED']]);
      expect(res.status).toBeLessThan(500);
      expect(res.data?.me ?? null).toBeNull();
    }
    const basic = await fetch(t.gatewayUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Basic dXNlcjpwYXNz' },
      body: JSON.stringify({ query: ME }),
    });
    expect(basic.status).toBeLessThan(500);
    expect(errorCodes((await basic.json()) as any)).toEqual(['UNAUTHENTICATED']);
  });

  it('accepts tokens of a key rotated out until they expire, and refuses a token signed with HS256 using a public key as secret', async () => {
    const user = await t.signUp();
    const { iss, aud } = { iss: t.config.auth.issuer, aud: t.config.auth.audience };
    const later = Math.floor(Date.now() / 1000) + 600;
    const rotated = await forgeToken(previousKey, { sub: user.id, iss, aud, exp: later });
    expect(expectOk(await t.gql(ME, {}, rotated)).me.id).toBe(user.id);
    const expiredRotated = await forgeToken(previousKey, { sub: user.id, iss, aud, exp: Math.floor(Date.now() / 1000) - 60 });
    expect(errorCodes(await t.gql(ME, {}, expiredRotated))).toEqual(['UNAUTHENTICATED']);
    // Algorithm confusion: HMAC keyed with the published public key must not pass as the signature.
    const jwks = (await (await fetch(new URL('/.well-known/jwks.json', t.system.subgraphs.users.url))).json()) as { keys: JWK[] };
    expect(jwks.keys.map((k) => k.kid).sort()).toEqual([systemKey.kid, previousKey.kid].sort());
    expect(jwks.keys.every((k) => k.d === undefined)).toBe(true);
    const secret = new TextEncoder().encode(JSON.stringify(jwks.keys[0]));
    const confused = await new SignJWT({ role: 'ADMIN' })
      .setProtectedHeader({ alg: 'HS256', kid: systemKey.kid })
      .setSubject(user.id)
      .setIssuer(iss)
      .setAudience(aud)
      .setExpirationTime(later)
      .sign(secret);
    const res = await t.gql(ME, {}, confused);
    expect(errorCodes(res)).toEqual(['UNAUTHENTICATED']);
    expect(res.status).toBeLessThan(500);
  });

  it("hides another user's email and credits (FORBIDDEN) but shows their displayName", async () => {
    const owner = await t.signUp('Olga Owner');
    const viewer = await t.signUp('Victor Viewer');
    const character = await createCharacter(t, owner.token, { name: 'Shown Off', visibility: 'PUBLIC' });
    const query = (field: string) => `query($id: ID!) { character(id: $id) { id owner { id displayName ${field} } } }`;

    const named = expectOk(await t.gql(query(''), { id: character.id }, viewer.token));
    expect(named.character.owner).toEqual({ id: owner.id, displayName: 'Olga Owner' });
    for (const field of ['email', 'credits']) {
      for (const token of [viewer.token, undefined]) {
        const res = await t.gql(query(field), { id: character.id }, token);
        expectError(res, 'FORBIDDEN');
        expect((res.errors![0] as { path?: unknown }).path).toEqual(['character', 'owner', field]);
        expect(JSON.stringify(res)).not.toContain(owner.email);
      }
    }
    // The owner sees their own.
    const own = expectOk(await t.gql(query('email credits'), { id: character.id }, owner.token));
    expect(own.character.owner).toMatchObject({ email: owner.email, credits: 100000 });
  });

  it('makes ADMIN_EMAILS admins, who may see the email and credits of others', async () => {
    const res = await register({ email: 'Admin@Example.com', displayName: 'The Admin' });
    const admin = expectOk(res).register;
    expect(admin.user).toMatchObject({ email: 'admin@example.com', role: 'ADMIN' });
    const plain = await t.signUp('Plain');
    expect(expectOk(await t.gql(ME, {}, plain.token)).me.role).toBe('USER');
    const character = await createCharacter(t, plain.token, { name: 'Plainly Public', visibility: 'PUBLIC' });
    const seen = expectOk(
      await t.gql(`query($id: ID!) { character(id: $id) { owner { email credits role } } }`, { id: character.id }, admin.accessToken),
    );
    expect(seen.character.owner).toEqual({ email: plain.email, credits: 100000, role: 'USER' });
  });
});
