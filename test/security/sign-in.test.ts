/**
 * Sign-in throttles against lock-out: wrong passwords from anywhere used to lock an account for
 * five minutes, its owner included. Now attempts count per address, per (address, account) and,
 * only from addresses the account has never signed in from, per account: an attacker elsewhere
 * cannot keep the owner out of an address they sign in from.
 *
 * The gateway trusts X-Forwarded-For here (TRUST_PROXY), so each request says where it comes from.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestSystem, type TestSystem } from '../support/system';
import { errorCodes, expectOk, START_TIMEOUT_MS } from '../e2e/helpers';

const LOGIN = /* GraphQL */ `mutation($i: LoginInput!) { login(input: $i) { accessToken user { id } } }`;
const PASSWORD = 'correct horse battery';
/** The limits this system runs with (per account is the default, 5). */
const PER_ACCOUNT = 5;
const PER_PAIR = 5;
const PER_ADDRESS = 12;

describe('sign-in throttles (postgres, behind a trusted proxy)', () => {
  let t: TestSystem;
  beforeAll(async () => {
    t = await startTestSystem('postgres', {
      TRUST_PROXY: 'true',
      LOGIN_ATTEMPTS_PER_ACCOUNT: String(PER_ACCOUNT),
      LOGIN_ATTEMPTS_PER_ADDRESS_AND_ACCOUNT: String(PER_PAIR),
      LOGIN_ATTEMPTS_PER_ADDRESS: String(PER_ADDRESS),
    });
  }, START_TIMEOUT_MS);
  afterAll(() => t?.stop());

  /** A sign-in attempt from `address`; answers the error codes ([] when signed in). */
  async function signIn(address: string, email: string, password: string): Promise<string[]> {
    const response = await fetch(t.gatewayUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
      body: JSON.stringify({ query: LOGIN, variables: { i: { email, password } } }),
    });
    expect(response.status).toBeLessThan(500);
    return errorCodes((await response.json()) as any);
  }

  it('keeps the owner signing in from a known address while wrong passwords from elsewhere lock out new addresses', async () => {
    const owner = await t.signUp('Owner');
    const home = '198.51.100.10';
    expect(await signIn(home, owner.email, PASSWORD)).toEqual([]);

    // Wrong passwords from several addresses: the account is locked for addresses it does not know
    // (the owner's first sign-in, from an address new then, was one of its PER_ACCOUNT attempts).
    const attackers = ['203.0.113.1', '203.0.113.2', '203.0.113.3'];
    const outcomes: string[][] = [];
    for (let i = 0; i < PER_ACCOUNT + 2; i += 1) outcomes.push(await signIn(attackers[i % attackers.length]!, owner.email, `wrong password ${i}`));
    expect(outcomes).toEqual([...Array(PER_ACCOUNT - 1).fill(['UNAUTHENTICATED']), ...Array(3).fill(['RATE_LIMITED'])]);
    // Even the right password from a new address waits (the attacker may hold it).
    expect(await signIn('203.0.113.99', owner.email, PASSWORD)).toEqual(['RATE_LIMITED']);

    // The owner, from home, is not locked out.
    expect(await signIn(home, owner.email, PASSWORD)).toEqual([]);
  });

  it('limits one address to PER_PAIR attempts at one account, known address or not', async () => {
    const owner = await t.signUp('Pair');
    const office = '198.51.100.20';
    expect(await signIn(office, owner.email, PASSWORD)).toEqual([]);
    const outcomes: string[][] = [];
    for (let i = 0; i < PER_PAIR; i += 1) outcomes.push(await signIn(office, owner.email, `wrong password ${i}`));
    // One right sign-in and PER_PAIR - 1 wrong passwords were allowed; then the pair is held back.
    expect(outcomes).toEqual([...Array(PER_PAIR - 1).fill(['UNAUTHENTICATED']), ['RATE_LIMITED']]);
    expect(await signIn(office, owner.email, PASSWORD)).toEqual(['RATE_LIMITED']);
    // Another account, from the same address, is not held back by that pair.
    const other = await t.signUp('Other');
    expect(await signIn(office, other.email, PASSWORD)).toEqual([]);
  });

  it('limits one address to PER_ADDRESS attempts over all accounts (password spraying)', async () => {
    const sprayer = '203.0.113.50';
    const victims = await Promise.all(Array.from({ length: PER_ADDRESS + 2 }, (_, i) => t.signUp(`Victim ${i}`)));
    const outcomes: string[][] = [];
    for (const victim of victims) outcomes.push(await signIn(sprayer, victim.email, 'Summer2026!'));
    expect(outcomes).toEqual([...Array(PER_ADDRESS).fill(['UNAUTHENTICATED']), ['RATE_LIMITED'], ['RATE_LIMITED']]);
    // The victims themselves, from elsewhere, are unaffected.
    const victim = victims.at(-1)!;
    const res = await t.gql(LOGIN, { i: { email: victim.email, password: PASSWORD } });
    expect(expectOk(res).login.user.id).toBe(victim.id);
  });
});
