/**
 * Spending limits checked inside concurrent holds, users' own keys sealed at rest, and the
 * scheduled refill running once per interval across instances, on both engines (the refill race
 * between two instances on PostgreSQL, where two connection pools share one schema).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { openDatabase, type Database } from '@chat/shared/db';
import { dropSchema } from '../../../test/support/postgres';
import { TEST_DATABASE_URL } from '../../../test/support/system';
import { storageFor, type Engine } from '../../../test/support/stores';
import { CreditLedger, MAX_BALANCE } from './ledger';
import { ProviderKeyStore } from '../provider-keys/provider-key-store';
import { periodStart } from './spending-store';
import { migrations, UsersStore, type UsersTables } from '../store';

const NAME = 'users';

describe.each<Engine>(['pglite', 'postgres'])('spending limits, own keys and refills on %s', (engine) => {
  const { config, schema } = storageFor(`${NAME}_spend`, engine);
  let database: Database<UsersTables>;
  let users: UsersStore;
  let ledger: CreditLedger;

  const newUser = async (credits: number) => {
    const user = await users.createUser({ email: `s${randomBytes(4).toString('hex')}@example.com`, passwordHash: 'h', displayName: 'S', role: 'USER', credits });
    return user!.id;
  };
  const balance = async (id: string) => (await users.usersByIds([id]))[0].credits;
  const hold = (userId: string, amount: number, key = randomUUID()) => ledger.hold({ userId, key, replyId: randomUUID(), amount, reason: 'reply' });

  beforeAll(async () => {
    database = await openDatabase<UsersTables>({ name: NAME, config, migrations });
    users = new UsersStore(database);
    ledger = new CreditLedger(database);
  }, 60_000);

  afterAll(async () => {
    await database?.close();
    if (engine === 'postgres') await dropSchema(TEST_DATABASE_URL, schema);
  });

  it('of 40 concurrent holds of 10 under a daily limit of 55, takes exactly 5; the others are refused by the limit with nothing written', async () => {
    const id = await newUser(10_000);
    await users.spendingLimits.set(id, { period: 'DAY', credits: 55 });
    const outcomes = await Promise.all(Array.from({ length: 40 }, () => hold(id, 10)));
    expect(outcomes.filter((o) => o.held)).toHaveLength(5);
    const refused = outcomes.filter((o) => !o.held);
    expect(refused).toHaveLength(35);
    // A refused hold answers the balance it found, unchanged by it.
    for (const o of refused) expect(o).toMatchObject({ held: false, refusedBy: 'SPENDING_LIMIT', balance: expect.any(Number) });
    expect(Math.min(...refused.map((o) => (o.held ? 0 : o.balance)))).toBeGreaterThanOrEqual(9_950);
    expect(await balance(id)).toBe(9_950);
    expect(await ledger.sum(id)).toBe(9_950);
    expect(await users.spendingLimits.of(id)).toEqual({ period: 'DAY', credits: 55, spent: 50 });
  });

  it('counts open holds whole and settlements net: what a reply gave back may be spent again', async () => {
    const id = await newUser(1_000);
    await users.spendingLimits.set(id, { period: 'MONTH', credits: 100 });
    const key = randomUUID();
    expect((await hold(id, 80, key)).held).toBe(true);
    expect(await hold(id, 30)).toMatchObject({ held: false, refusedBy: 'SPENDING_LIMIT', balance: 920 });
    // The reply used 20 of its 80: 60 come back, and 20 are spent.
    await ledger.settle(key, 20, 'reply completed');
    expect((await users.spendingLimits.of(id))!.spent).toBe(20);
    expect((await hold(id, 80)).held).toBe(true);
    expect(await hold(id, 1)).toMatchObject({ held: false, refusedBy: 'SPENDING_LIMIT' });
    // A hold both would refuse is refused by the balance first, and says so.
    await users.spendingLimits.set(id, { period: 'MONTH', credits: 5_000 });
    expect(await hold(id, 6_000)).toMatchObject({ held: false, refusedBy: 'BALANCE', balance: 900 });
    // Removed: nothing limits them but their balance.
    await users.spendingLimits.set(id, null);
    expect(await users.spendingLimits.of(id)).toBeUndefined();
    expect((await hold(id, 800)).held).toBe(true);
    expect(await ledger.sum(id)).toBe(await balance(id));
  });

  it('counts only the current UTC day or calendar month', async () => {
    const id = await newUser(1_000);
    await users.spendingLimits.set(id, { period: 'DAY', credits: 50 });
    await hold(id, 40);
    // Yesterday's hold, as the clock sees it tomorrow: not today's spending.
    const tomorrow = new Date(periodStart('DAY', new Date()).getTime() + 24 * 3600_000 + 1_000);
    expect((await users.spendingLimits.of(id, tomorrow))!.spent).toBe(0);
    expect((await users.spendingLimits.of(id))!.spent).toBe(40);
    expect(periodStart('MONTH', new Date('2026-03-31T23:59:59Z')).toISOString()).toBe('2026-03-01T00:00:00.000Z');
    expect(periodStart('DAY', new Date('2026-03-31T23:59:59Z')).toISOString()).toBe('2026-03-31T00:00:00.000Z');
  });

  it('keeps own keys sealed: the row holds no key, and a sealed key moved to another user does not open', async () => {
    const keys = new ProviderKeyStore(database.db, randomBytes(32));
    const [alice, bob] = [await newUser(1), await newUser(1)];
    const secret = `sk-test-${randomBytes(12).toString('hex')}`;
    expect(await keys.set(alice, 'openai', secret)).toMatchObject({ provider: 'openai', last4: secret.slice(-4) });
    expect(await keys.reveal(alice, 'openai')).toBe(secret);
    expect(await keys.reveal(bob, 'openai')).toBeUndefined();
    const row = await database.db.selectFrom('provider_keys').selectAll().where('user_id', '=', alice).executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain(secret.slice(0, -4));
    // Copied into Bob's row, or into another provider's: refused by the authenticated data.
    await database.db.insertInto('provider_keys').values({ ...row, user_id: bob }).execute();
    await database.db.insertInto('provider_keys').values({ ...row, provider: 'anthropic' }).execute();
    expect(await keys.reveal(bob, 'openai')).toBeUndefined();
    expect(await keys.reveal(alice, 'anthropic')).toBeUndefined();
    // Under another SECRETS_KEY nothing opens.
    expect(await new ProviderKeyStore(database.db, randomBytes(32)).reveal(alice, 'openai')).toBeUndefined();
    expect(await keys.set(alice, 'openai', 'replaced-key-9876')).toMatchObject({ last4: '9876' });
    expect(await keys.reveal(alice, 'openai')).toBe('replaced-key-9876');
    expect((await keys.list(alice)).map((k) => k.provider)).toEqual(['anthropic', 'openai']);
    expect(await keys.delete(alice, 'openai')).toBe(true);
    expect(await keys.delete(alice, 'openai')).toBe(false);
    expect(await keys.reveal(alice, 'openai')).toBeUndefined();
  });

  it('refills every user once per interval, with a REFILL row each, never past the largest balance', async () => {
    const ids = [await newUser(0), await newUser(35), await newUser(MAX_BALANCE - 3)];
    const intervalNumber = 1_000_000 + Math.floor(Math.random() * 1e9);
    const refilled = await ledger.refill({ intervalMs: 3_600_000, intervalNumber, amount: 7 });
    expect(refilled).toBeGreaterThanOrEqual(2);
    expect(await ledger.refill({ intervalMs: 3_600_000, intervalNumber, amount: 7 })).toBeUndefined();
    expect(await Promise.all(ids.map(balance))).toEqual([7, 42, MAX_BALANCE - 3]);
    for (const id of ids) expect(await ledger.sum(id)).toBe(await balance(id));
    const rows = await database.db.selectFrom('credit_ledger').selectAll().where('user_id', '=', ids[1]).where('kind', '=', 'REFILL').execute();
    expect(rows).toEqual([expect.objectContaining({ amount: 7, balance_after: 42, reason: `scheduled refill ${intervalNumber}` })]);
  });
});

describe('the refill with two instances on one PostgreSQL schema', () => {
  const { config, schema } = storageFor(`${NAME}_refill`, 'postgres');
  let first: Database<UsersTables>;
  let second: Database<UsersTables>;

  beforeAll(async () => {
    first = await openDatabase<UsersTables>({ name: NAME, config, migrations });
    second = await openDatabase<UsersTables>({ name: NAME, config, migrations });
  }, 60_000);

  afterAll(async () => {
    await first?.close();
    await second?.close();
    await dropSchema(TEST_DATABASE_URL, schema);
  });

  it('refills every user exactly once when both run the same interval at once, while holds run too', async () => {
    const users = new UsersStore(first);
    const ids = await Promise.all(
      Array.from({ length: 30 }, async (_, i) => (await users.createUser({ email: `r${i}${randomBytes(3).toString('hex')}@example.com`, passwordHash: 'h', displayName: 'R', role: 'USER', credits: 100 }))!.id),
    );
    const ledgers = [new CreditLedger(first), new CreditLedger(second)];
    const interval = { intervalMs: 86_400_000, intervalNumber: 20_000 };
    const holds = ids.map((userId, i) => ledgers[i % 2].hold({ userId, key: `h${i}`, replyId: randomUUID(), amount: 60, reason: 'reply' }));
    const runs = await Promise.all([...Array.from({ length: 6 }, (_, i) => ledgers[i % 2].refill({ ...interval, amount: 25 })), ...holds]);
    const refills = runs.slice(0, 6);
    expect(refills.filter((r) => r !== undefined)).toEqual([30]);
    for (const id of ids) {
      const rows = await first.db.selectFrom('credit_ledger').selectAll().where('user_id', '=', id).execute();
      expect(rows.filter((r) => r.kind === 'REFILL')).toHaveLength(1);
      const { credits } = (await users.usersByIds([id]))[0];
      expect(credits).toBe(100 + 25 - 60);
      expect(await ledgers[0].sum(id)).toBe(credits);
    }
    const claimed = await first.db.selectFrom('credit_refills').selectAll().execute();
    expect(claimed.map((r) => [Number(r.interval_number), r.users_refilled])).toEqual([[20_000, 30]]);
  });
});
