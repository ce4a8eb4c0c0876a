/** Sign-in throttles: per account and per client address, answered RATE_LIMITED with retryAfterSeconds. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestSystem, uniqueName, type TestSystem } from '../support/system';

const LOGIN = `mutation($i: LoginInput!) { login(input: $i) { accessToken } }`;
const REGISTER = `mutation($i: RegisterInput!) { register(input: $i) { accessToken } }`;
const PASSWORD = 'correct horse battery';

describe('sign-in throttles', () => {
  let t: TestSystem;
  beforeAll(async () => {
    t = await startTestSystem('postgres', { LOGIN_ATTEMPTS_PER_ACCOUNT: '3', REGISTRATIONS_PER_ADDRESS: '4' });
  });
  afterAll(() => t?.stop());

  it('refuses a fourth sign-in to one account within 5 minutes, right password or not, leaving other accounts alone', async () => {
    const target = await t.signUp();
    const other = await t.signUp();
    for (let i = 0; i < 3; i += 1) {
      const wrong = await t.gql(LOGIN, { i: { email: target.email, password: 'not the password' } });
      expect(wrong.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
    }
    const refused = await t.gql(LOGIN, { i: { email: target.email.toUpperCase(), password: PASSWORD } });
    expect(refused.status).toBeLessThan(500);
    expect(refused.errors?.[0].extensions?.code).toBe('RATE_LIMITED');
    expect(refused.errors?.[0].extensions?.retryAfterSeconds).toBeGreaterThan(0);
    expect(refused.errors?.[0].extensions?.retryAfterSeconds).toBeLessThanOrEqual(300);
    const fine = await t.gql(LOGIN, { i: { email: other.email, password: PASSWORD } });
    expect(fine.errors).toBeUndefined();
  });

  it('refuses sign-ups from one address past the hourly limit; a client cannot dodge it with its own X-Forwarded-For', async () => {
    // Two sign-ups were made by the test above; the limit is 4 an hour.
    const attempt = (headers: Record<string, string> = {}) =>
      fetch(t.gatewayUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ query: REGISTER, variables: { i: { email: `${uniqueName('th')}@example.com`, password: PASSWORD, displayName: 'T' } } }),
      }).then(async (r) => ({ status: r.status, ...((await r.json()) as any) }));
    expect((await attempt()).errors).toBeUndefined();
    expect((await attempt()).errors).toBeUndefined();
    const refused = await attempt({ 'x-forwarded-for': '203.0.113.9' });
    expect(refused.status).toBeLessThan(500);
    expect(refused.errors?.[0].extensions?.code).toBe('RATE_LIMITED');
    expect(refused.errors?.[0].extensions?.retryAfterSeconds).toBeGreaterThan(0);
  });
});
