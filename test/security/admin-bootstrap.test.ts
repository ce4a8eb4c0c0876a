/**
 * ADMIN_EMAILS used to make an admin of whoever registered one of its addresses first, with no
 * proof they own it, at any time. Now it only bootstraps the first admin of a system that has
 * none; later admins are made by scripts/make-admin.ts, run by someone with the deployment's
 * configuration and database.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ADMIN_EMAIL, startTestSystem, TEST_DATABASE_URL, uniqueName, type TestSystem } from '../support/system';
import { expectOk, START_TIMEOUT_MS } from '../e2e/helpers';

const REGISTER = /* GraphQL */ `mutation($i: RegisterInput!) { register(input: $i) { refreshToken user { id role } } }`;
const REFRESH = /* GraphQL */ `mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken user { role } } }`;
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** A second address listed in ADMIN_EMAILS, which somebody registers once the system has its admin. */
const LATE_ADMIN_EMAIL = 'ops@example.com';

/** Runs scripts/make-admin.ts with `args` against the test system's database; resolves with its exit code and output. */
function makeAdmin(t: TestSystem, args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/make-admin.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'test', DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA_PREFIX: t.config.databaseSchemaPrefix, LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, output })));
}

describe('admin bootstrap (postgres)', () => {
  let t: TestSystem;
  beforeAll(async () => {
    t = await startTestSystem('postgres', { ADMIN_EMAILS: `${ADMIN_EMAIL},${LATE_ADMIN_EMAIL}` });
  }, START_TIMEOUT_MS);
  afterAll(() => t?.stop());

  const register = (email: string) => t.gql(REGISTER, { i: { email, password: 'correct horse battery', displayName: 'Someone' } });

  it('makes the first registration of an ADMIN_EMAILS address an admin, and a later one of another listed address a user', async () => {
    const first = expectOk(await register(ADMIN_EMAIL)).register;
    expect(first.user.role).toBe('ADMIN');
    // Somebody registers the other listed address (they may not own it): no admin rights.
    const late = expectOk(await register(LATE_ADMIN_EMAIL)).register;
    expect(late.user.role).toBe('USER');
    const refreshed = expectOk(await t.gql(REFRESH, { t: late.refreshToken })).refreshSession;
    expect(refreshed.user.role).toBe('USER');
    const adminOnly = await t.gql(`mutation { setModerationPolicy(refuse: []) { refuse } }`, {}, refreshed.accessToken);
    expect(adminOnly.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('makes an existing account an admin by the make-admin command; its next session carries the role', async () => {
    const email = `${uniqueName('promoted')}@example.com`;
    const user = expectOk(await register(email)).register;
    const done = await makeAdmin(t, [email.toUpperCase()]);
    expect(done).toEqual({ code: 0, output: expect.stringContaining(`${email} is now an admin.`) });
    expect(expectOk(await t.gql(REFRESH, { t: user.refreshToken })).refreshSession.user.role).toBe('ADMIN');

    expect((await makeAdmin(t, [`${uniqueName('nobody')}@example.com`])).code).toBe(1);
    expect((await makeAdmin(t, [])).code).toBe(2);
    expect((await makeAdmin(t, ['not an email'])).code).toBe(2);
  }, 60_000);
});
