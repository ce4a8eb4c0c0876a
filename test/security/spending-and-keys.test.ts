/**
 * Spending limits and users' own provider keys (issue 17), through the gateway and, for the
 * internal fields the messages service uses, by signed calls straight to the users subgraph, on
 * both engines: a limit set by the user themself refuses sends past it whatever runs at once; a
 * key is stored for an online provider only, never answered back (last four characters), revealed
 * only to the messages service acting for its owner, and makes that user's holds cost nothing;
 * the scheduled refill moves every balance on its timer. Then a process's logs, which never hold a key.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SUBGRAPH_NAMES } from '@chat/shared/config';
import { MAX_BALANCE } from '../../subgraphs/users/credits/ledger';
import { codeOf, conversation, send, startChat, waitForEnd, waitUntil, START_TIMEOUT_MS } from '../chat/helpers';
import { expectError, expectOk } from '../e2e/helpers';
import { startFakeLlm, type FakeLlmServer } from '../support/fake-llm';
import { freePort } from '../support/ports';
import { startProcess, waitHealthy, type ServiceProcess } from '../support/processes';
import { ENGINES, startTestSystem, type SubgraphCaller, type TestSystem } from '../support/system';

const SET_LIMIT = /* GraphQL */ `mutation($period: SpendingPeriod!, $credits: Int) { setSpendingLimit(period: $period, credits: $credits) { id spendingLimit { period credits spent } } }`;
const ME = /* GraphQL */ `{ me { id credits spendingLimit { period credits spent } providerKeys { provider { id } last4 createdAt } } }`;
const SET_KEY = /* GraphQL */ `mutation($provider: ID!, $apiKey: String!) { setProviderKey(provider: $provider, apiKey: $apiKey) { provider { id } last4 createdAt } }`;
const DELETE_KEY = /* GraphQL */ `mutation($provider: ID!) { deleteProviderKey(provider: $provider) }`;
const PROVIDER_KEY = /* GraphQL */ `query($provider: ID!) { providerKey(provider: $provider) }`;
const HOLD = /* GraphQL */ `mutation($input: CreditHoldInput!) { holdCredits(input: $input) { held balance ownKey refusedBy } }`;
const LEDGER = /* GraphQL */ `{ me { credits creditLedger(first: 100) { edges { node { kind amount reason } } } } }`;

/** How often the systems here refill (the timer is shown working; the exactly-once race is in subgraphs/users/credits/spending-and-refill.test.ts). */
const REFILL_INTERVAL_MS = 2_000;
const REFILL_AMOUNT = 7;

/** An LLM_CONFIG with an OpenAI-compatible provider (the fake server) first, and an offline one. */
function llmConfig(dir: string, baseUrl: string): string {
  const file = join(dir, 'llm.yaml');
  writeFileSync(file, `providers:\n  - id: local\n    kind: openai\n    baseUrl: ${baseUrl}\n    models: [test-model]\n  - id: demo\n    kind: offline\n    models: [demo-model]\n`);
  return file;
}

/** A fake key, unique per call, easy to look for in responses and logs. */
const fakeKey = () => `sk-fake-${randomBytes(16).toString('hex')}`;

describe.each(ENGINES)('spending limits and own keys (%s)', (engine) => {
  let t: TestSystem;
  let llm: FakeLlmServer;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'spending-'));
    llm = await startFakeLlm({ tokens: ['Quite', ' so', '.'], tokenDelayMs: 2, promptTokens: 30 });
    t = await startTestSystem(engine, {
      LLM_CONFIG: llmConfig(dir, llm.baseUrl),
      LLM_MAX_RETRIES: '0',
      RATE_LIMIT_MESSAGES_PER_MINUTE: '1000',
      CREDITS_REFILL_AMOUNT: String(REFILL_AMOUNT),
      CREDITS_REFILL_INTERVAL_MS: String(REFILL_INTERVAL_MS),
    });
  }, START_TIMEOUT_MS);
  afterAll(async () => {
    await t?.stop();
    await llm?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, START_TIMEOUT_MS);

  /** A direct call to the users subgraph signed as the messages service acting for `user`. */
  const asMessages = (user: { id: string }): SubgraphCaller => ({ as: 'messages', actingFor: { id: user.id, role: 'USER' } });
  const holdInput = (extra: Record<string, unknown> = {}) => ({ key: `k${randomBytes(6).toString('hex')}`, replyId: randomUUID(), amount: 10, reason: 'reply', ...extra });

  it('sets, shows and removes the caller\'s own limit; refuses bad bounds and anonymous callers', async () => {
    const user = await t.signUp('Saver');
    for (const credits of [0, -5, MAX_BALANCE + 1]) expectError(await t.gql(SET_LIMIT, { period: 'DAY', credits }, user.token), 'BAD_USER_INPUT', 'credits');
    expectError(await t.gql(SET_LIMIT, { period: 'DAY', credits: 10 }), 'UNAUTHENTICATED');
    expectError(await t.gql(SET_LIMIT, { period: 'WEEK', credits: 10 }, user.token), 'BAD_USER_INPUT');
    expect(expectOk(await t.gql(ME, {}, user.token)).me.spendingLimit).toBeNull();
    const set = expectOk<any>(await t.gql(SET_LIMIT, { period: 'MONTH', credits: 500 }, user.token)).setSpendingLimit;
    expect(set).toEqual({ id: user.id, spendingLimit: { period: 'MONTH', credits: 500, spent: 0 } });
    expect(expectOk<any>(await t.gql(SET_LIMIT, { period: 'DAY', credits: MAX_BALANCE }, user.token)).setSpendingLimit.spendingLimit.period).toBe('DAY');
    expect(expectOk<any>(await t.gql(SET_LIMIT, { period: 'DAY', credits: null }, user.token)).setSpendingLimit.spendingLimit).toBeNull();
    expect(expectOk(await t.gql(ME, {}, user.token)).me.spendingLimit).toBeNull();
  });

  it("shows a user's limit and keys to them and admins only", async () => {
    const alice = await t.signUp('Alice');
    const bob = await t.signUp('Bob');
    const admin = await t.signUpAdmin();
    expectOk(await t.gql(SET_LIMIT, { period: 'DAY', credits: 300 }, alice.token));
    expectOk(await t.gql(SET_KEY, { provider: 'local', apiKey: fakeKey() }, alice.token));
    const created = await t.gql(`mutation { createCharacter(input: { name: "Irene", visibility: PUBLIC }) { id } }`, {}, alice.token);
    const characterId = created.data.createCharacter.id;
    const ownerFields = `query($id: ID!) { character(id: $id) { owner { id spendingLimit { credits } providerKeys { last4 } } } }`;
    const seenByBob = await t.gql(ownerFields, { id: characterId }, bob.token);
    expectError(seenByBob, 'FORBIDDEN');
    expect(JSON.stringify(seenByBob.data ?? null)).not.toContain('300');
    const seenByAdmin = expectOk<any>(await t.gql(ownerFields, { id: characterId }, admin.token)).character.owner;
    expect(seenByAdmin).toMatchObject({ id: alice.id, spendingLimit: { credits: 300 }, providerKeys: [{ last4: expect.any(String) }] });
  });

  it('refuses sends past the limit with INSUFFICIENT_CREDITS, whatever runs at once, and counts what replies used', async () => {
    const user = await t.signUp('Limited');
    const first = await startChat(t, { user });
    const sent = await send(t, user.token, first.conversationId, 'How much does this cost?');
    const reply = sent.data.sendMessage.reply;
    await waitForEnd(t, user.token, reply.id, 30_000);
    const rows = (await t.gql(LEDGER, {}, user.token)).data.me.creditLedger.edges.map((e: any) => e.node);
    const held = -rows.find((r: any) => r.kind === 'HOLD').amount;
    // What the finished reply used is this period's spending, counted when a limit is set later.
    await waitUntil(async () => (await t.gql(LEDGER, {}, user.token)).data.me.creditLedger.edges.some((e: any) => e.node.kind === 'SETTLE'), 30_000, 'the settlement');
    const limit = expectOk<any>(await t.gql(SET_LIMIT, { period: 'DAY', credits: 1 }, user.token)).setSpendingLimit.spendingLimit;
    expect(limit.spent).toBeGreaterThan(0);
    const spent = limit.spent;
    const refused = await send(t, user.token, first.conversationId, 'Once more.');
    expect(codeOf(refused)).toBe('INSUFFICIENT_CREDITS');
    expect(refused.errors![0].extensions).toMatchObject({ reason: 'SPENDING_LIMIT' });
    // Nothing stored: the greeting, the first message and its reply.
    expect((await conversation(t, user.token, first.conversationId)).messageCount).toBe(3);

    // Room for three more replies' holds, not four; twelve sends at once, each slow to settle.
    expectOk(await t.gql(SET_LIMIT, { period: 'DAY', credits: spent + 3 * held + Math.floor(held / 2) }, user.token));
    const chats = await Promise.all(Array.from({ length: 12 }, () => startChat(t, { user })));
    llm.setBehaviour({ firstTokenDelayMs: 3_000 });
    try {
      const answers = await Promise.all(chats.map((chat) => send(t, user.token, chat.conversationId, 'How much does this cost?')));
      const accepted = answers.filter((a) => a.data?.sendMessage);
      expect(answers.filter((a) => codeOf(a) === 'INSUFFICIENT_CREDITS')).toHaveLength(12 - accepted.length);
      expect(accepted.length).toBeGreaterThanOrEqual(1);
      expect(accepted.length).toBeLessThanOrEqual(3);
      for (const a of accepted) await waitForEnd(t, user.token, a.data.sendMessage.reply.id, 60_000);
    } finally {
      llm.setBehaviour({ firstTokenDelayMs: 0 });
    }
    const after = expectOk<any>(await t.gql(ME, {}, user.token)).me.spendingLimit;
    expect(after.spent).toBeLessThanOrEqual(after.credits);
  });

  it('answers the messages service why a hold was refused: the balance or the limit', async () => {
    const user = await t.signUp('Held');
    const hold = async (input: Record<string, unknown>) => expectOk<any>(await t.subgraphGql('users', HOLD, { input: holdInput(input) }, asMessages(user))).holdCredits;
    const { credits } = expectOk<any>(await t.gql(ME, {}, user.token)).me;
    expect(await hold({ amount: MAX_BALANCE })).toEqual({ held: false, balance: expect.any(Number), ownKey: false, refusedBy: 'BALANCE' });
    expectOk(await t.gql(SET_LIMIT, { period: 'MONTH', credits: 25 }, user.token));
    expect(await hold({ amount: 20 })).toMatchObject({ held: true, ownKey: false, refusedBy: null });
    const refused = await hold({ amount: 20 });
    expect(refused).toMatchObject({ held: false, ownKey: false, refusedBy: 'SPENDING_LIMIT' });
    // The balance it answers is the user's, not taken by the refused hold (a refill may have added to it).
    expect(refused.balance).toBeGreaterThanOrEqual(credits - 20);
    expect(expectOk<any>(await t.gql(ME, {}, user.token)).me.spendingLimit.spent).toBe(20);
  });

  it('stores a key for an online provider only, answers its last four characters, never the key', async () => {
    const user = await t.signUp('Keyholder');
    const key = fakeKey();
    const offline = await t.gql(SET_KEY, { provider: 'demo', apiKey: key }, user.token);
    expectError(offline, 'BAD_USER_INPUT', 'local');
    expectError(await t.gql(SET_KEY, { provider: 'nope', apiKey: key }, user.token), 'BAD_USER_INPUT', 'must be one of local');
    for (const bad of ['short', 'x'.repeat(501), 'sk-with\u0000control-chars', 'sk-ünïcödé-key']) {
      const res = await t.gql(SET_KEY, { provider: 'local', apiKey: bad }, user.token);
      expectError(res, 'BAD_USER_INPUT', 'apiKey');
      expect(JSON.stringify(res)).not.toContain(bad);
    }
    expectError(await t.gql(SET_KEY, { provider: 'local', apiKey: key }), 'UNAUTHENTICATED');
    const set = await t.gql(SET_KEY, { provider: 'local', apiKey: `  ${key}\n` }, user.token);
    expect(expectOk<any>(set).setProviderKey).toEqual({ provider: { id: 'local' }, last4: key.slice(-4), createdAt: expect.any(String) });
    const me = await t.gql(ME, {}, user.token);
    expect(expectOk<any>(me).me.providerKeys).toEqual([{ provider: { id: 'local' }, last4: key.slice(-4), createdAt: expect.any(String) }]);
    for (const res of [offline, set, me]) expect(JSON.stringify(res)).not.toContain(key.slice(0, -4));
    // The internal query is not part of the public graph.
    expectError(await t.gql(PROVIDER_KEY, { provider: 'local' }, user.token), 'GRAPHQL_VALIDATION_FAILED');
  });

  it("reveals a key only to the messages service acting for its owner; that owner's holds on it cost nothing", async () => {
    const alice = await t.signUp('Alice');
    const bob = await t.signUp('Bob');
    const key = fakeKey();
    expectOk(await t.gql(SET_KEY, { provider: 'local', apiKey: key }, alice.token));
    expect(expectOk<any>(await t.subgraphGql('users', PROVIDER_KEY, { provider: 'local' }, asMessages(alice))).providerKey).toBe(key);
    // Another user's key is never answered: Bob has none.
    expect(expectOk<any>(await t.subgraphGql('users', PROVIDER_KEY, { provider: 'local' }, asMessages(bob))).providerKey).toBeNull();
    expect(expectOk<any>(await t.subgraphGql('users', PROVIDER_KEY, { provider: 'demo' }, asMessages(alice))).providerKey).toBeNull();
    // Once Bob has his own, each is answered their own.
    const bobsKey = fakeKey();
    expectOk(await t.gql(SET_KEY, { provider: 'local', apiKey: bobsKey }, bob.token));
    expect(expectOk<any>(await t.subgraphGql('users', PROVIDER_KEY, { provider: 'local' }, asMessages(bob))).providerKey).toBe(bobsKey);
    expect(expectOk<any>(await t.subgraphGql('users', PROVIDER_KEY, { provider: 'local' }, asMessages(alice))).providerKey).toBe(key);
    expectOk(await t.gql(DELETE_KEY, { provider: 'local' }, bob.token));
    // Anyone but the messages service: refused, the gateway forwarding Alice's own token included.
    for (const caller of [{ token: alice.token }, { as: 'conversations' as const, actingFor: { id: alice.id, role: 'USER' as const } }, { as: 'characters' as const, actingFor: { id: alice.id, role: 'USER' as const } }]) {
      const res = await t.subgraphGql('users', PROVIDER_KEY, { provider: 'local' }, caller);
      expectError(res, 'FORBIDDEN');
      expect(JSON.stringify(res)).not.toContain(key);
    }
    expect((await t.subgraphGql('users', PROVIDER_KEY, { provider: 'local' }, { as: null })).status).toBe(401);

    const balanceOf = async (token: string) => expectOk<any>(await t.gql(ME, {}, token)).me.credits;
    const holdsOf = async (token: string) => (await t.gql(LEDGER, {}, token)).data.me.creditLedger.edges.filter((e: any) => e.node.kind === 'HOLD').length;
    const own = expectOk<any>(await t.subgraphGql('users', HOLD, { input: holdInput({ provider: 'local', amount: 50 }) }, asMessages(alice))).holdCredits;
    expect(own).toEqual({ held: false, ownKey: true, refusedBy: null, balance: expect.any(Number) });
    expect(await holdsOf(alice.token)).toBe(0);
    // Without the provider (as before), or on another provider, the hold is taken as ever.
    expect(expectOk<any>(await t.subgraphGql('users', HOLD, { input: holdInput({ amount: 50 }) }, asMessages(alice))).holdCredits).toMatchObject({ held: true, ownKey: false });
    expect(expectOk<any>(await t.subgraphGql('users', HOLD, { input: holdInput({ provider: 'demo', amount: 5 }) }, asMessages(alice))).holdCredits).toMatchObject({ held: true, ownKey: false });
    // Bob's replies on that provider do not use Alice's key: his hold is taken.
    const before = await balanceOf(bob.token);
    expect(expectOk<any>(await t.subgraphGql('users', HOLD, { input: holdInput({ provider: 'local', amount: 50 }) }, asMessages(bob))).holdCredits).toMatchObject({ held: true, ownKey: false });
    expect(await balanceOf(bob.token)).toBeLessThanOrEqual(before - 50 + REFILL_AMOUNT * 2);
    expect(await holdsOf(bob.token)).toBe(1);

    expect(expectOk<any>(await t.gql(DELETE_KEY, { provider: 'local' }, alice.token)).deleteProviderKey).toBe(true);
    expect(expectOk<any>(await t.gql(DELETE_KEY, { provider: 'local' }, alice.token)).deleteProviderKey).toBe(false);
    expectError(await t.gql(DELETE_KEY, { provider: 'demo' }, alice.token), 'BAD_USER_INPUT');
    expect(expectOk<any>(await t.subgraphGql('users', PROVIDER_KEY, { provider: 'local' }, asMessages(alice))).providerKey).toBeNull();
    expect(expectOk<any>(await t.subgraphGql('users', HOLD, { input: holdInput({ provider: 'local', amount: 5 }) }, asMessages(alice))).holdCredits.ownKey).toBe(false);
  });

  it('refills every user on its timer, each refill a REFILL row, the ledger summing to the balance', async () => {
    const user = await t.signUp('Refilled');
    let ledger: any;
    await waitUntil(
      async () => {
        ledger = (await t.gql(LEDGER, {}, user.token)).data.me;
        return ledger.creditLedger.edges.some((e: any) => e.node.kind === 'REFILL');
      },
      REFILL_INTERVAL_MS * 10,
      'a refill',
    );
    const refills = ledger.creditLedger.edges.map((e: any) => e.node).filter((n: any) => n.kind === 'REFILL');
    expect(refills.every((n: any) => n.amount === REFILL_AMOUNT)).toBe(true);
    // One per interval: no interval's reason twice.
    expect(new Set(refills.map((n: any) => n.reason)).size).toBe(refills.length);
    // The balance and the ledger are two reads: a refill may land between them, never twice in a row.
    const sums = async () => {
      const { me } = (await t.gql(LEDGER, {}, user.token)).data;
      return { balance: me.credits, ledger: me.creditLedger.edges.reduce((sum: number, e: any) => sum + e.node.amount, 0) };
    };
    const [a, b] = [await sums(), await sums()];
    expect(a.balance === a.ledger || b.balance === b.ledger).toBe(true);
  });
});

describe("a process's logs with users' own keys", () => {
  let system: ServiceProcess;
  let gateway: string;
  let dir: string;
  const lines: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keys-logs-'));
    const ports = await Promise.all([0, 1, 2, 3, 4].map(() => freePort()));
    system = startProcess('system', 'scripts/start-all.ts', {
      NODE_ENV: 'development',
      // The most a log says: every variable a logger could be handed would show here.
      LOG_LEVEL: 'trace',
      DATA_DIR: 'memory://',
      DATABASE_URL: '',
      REDIS_URL: '',
      LLM_CONFIG: llmConfig(dir, 'http://127.0.0.1:9/v1'),
      PORT: String(ports[0]),
      ...Object.fromEntries(SUBGRAPH_NAMES.map((name, i) => [`${name.toUpperCase()}_URL`, `http://127.0.0.1:${ports[i + 1]}/graphql`])),
    });
    system.child.stdout!.on('data', (chunk: Buffer) => lines.push(chunk.toString()));
    system.child.stderr!.on('data', (chunk: Buffer) => lines.push(chunk.toString()));
    gateway = `http://127.0.0.1:${ports[0]}/graphql`;
    await waitHealthy(`http://127.0.0.1:${ports[0]}/ready`, system, 90_000);
  }, 120_000);

  afterAll(async () => {
    await system?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const gql = async (query: string, variables: Record<string, unknown>, token?: string) => {
    const response = await fetch(gateway, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as any;
  };

  it('never hold a key, whether it was stored, refused or the request was malformed', async () => {
    const registered = await gql('mutation($i: RegisterInput!) { register(input: $i) { accessToken } }', { i: { email: 'keys@example.com', password: 'correct horse battery', displayName: 'Keys' } });
    const token = registered.data.register.accessToken;
    const stored = fakeKey();
    const refused = fakeKey();
    const inline = fakeKey();
    expect((await gql(`mutation SetProviderKey($p: ID!, $k: String!) { setProviderKey(provider: $p, apiKey: $k) { last4 } }`, { p: 'local', k: stored }, token)).data.setProviderKey.last4).toBe(stored.slice(-4));
    expect((await gql(`mutation($p: ID!, $k: String!) { setProviderKey(provider: $p, apiKey: $k) { last4 } }`, { p: 'demo', k: refused }, token)).errors[0].extensions.code).toBe('BAD_USER_INPUT');
    // A key written into the document itself, with a mistake the server reports.
    expect((await gql(`mutation { setProviderKey(provider: "local", apiKey: "${inline}") { last4 nope } }`, {}, token)).errors).toBeDefined();
    await gql('{ me { providerKeys { last4 } } }', {}, token);
    // Every request above has been logged by the time the next one is answered.
    await waitUntil(() => lines.join('').includes('"graphql operation"'), 10_000, 'operation log lines');
    const everything = lines.join('');
    expect(everything).toContain('SetProviderKey');
    for (const key of [stored, refused, inline]) expect(everything).not.toContain(key.slice(0, -4));
  });
});
