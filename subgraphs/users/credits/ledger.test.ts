/** The credits ledger on both engines: holds under concurrency, settlement, idempotency, and the ledger summing to the balance. */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { sql } from 'kysely';
import { openDatabase, type Database } from '@chat/shared/db';
import { dropSchema } from '../../../test/support/postgres';
import { TEST_DATABASE_URL } from '../../../test/support/system';
import { storageFor, type Engine } from '../../../test/support/stores';
import { CreditLedger, MAX_BALANCE } from './ledger';
import { migrations, UsersStore, type UsersTables } from '../store';

const NAME = 'users';

describe.each<Engine>(['pglite', 'postgres'])('CreditLedger on %s', (engine) => {
  const { config, schema } = storageFor(`${NAME}_ledger`, engine);
  let database: Database<UsersTables>;
  let users: UsersStore;
  let ledger: CreditLedger;

  const newUser = async (credits: number) => {
    const user = await users.createUser({ email: `l${randomBytes(4).toString('hex')}@example.com`, passwordHash: 'h', displayName: 'L', role: 'USER', credits });
    return user!.id;
  };
  const balance = async (id: string) => (await users.usersByIds([id]))[0].credits;

  beforeAll(async () => {
    database = await openDatabase<UsersTables>({ name: NAME, config, migrations });
    users = new UsersStore(database);
    ledger = new CreditLedger(database);
  }, 60_000);

  afterAll(async () => {
    await database?.close();
    if (engine === 'postgres') await dropSchema(TEST_DATABASE_URL, schema);
  });

  it('of 30 concurrent holds of 10 with 55 credits, takes exactly 5, and the balance never goes below zero', async () => {
    const id = await newUser(55);
    const outcomes = await Promise.all(
      Array.from({ length: 30 }, (_, i) => ledger.hold({ userId: id, key: `r${i}`, replyId: randomUUID(), amount: 10, reason: 'reply' })),
    );
    expect(outcomes.filter((o) => o.held)).toHaveLength(5);
    expect(outcomes.filter((o) => !o.held).every((o) => !o.held && o.balance === 5)).toBe(true);
    expect(await balance(id)).toBe(5);
    expect(await ledger.sum(id)).toBe(5);
  });

  it('holds once per key, even when the same hold is retried concurrently', async () => {
    const id = await newUser(100);
    const replyId = randomUUID();
    const outcomes = await Promise.all(Array.from({ length: 10 }, () => ledger.hold({ userId: id, key: 'same', replyId, amount: 30, reason: 'reply' })));
    expect(outcomes.every((o) => o.held)).toBe(true);
    expect(new Set(outcomes.map((o) => (o.held ? o.entry.id : '')))).toEqual(new Set([outcomes[0].held && outcomes[0].entry.id]));
    expect(await balance(id)).toBe(70);
  });

  it('settles to what was used, once, returning the rest; a hold nothing used is released', async () => {
    const id = await newUser(100);
    const replyId = randomUUID();
    await ledger.hold({ userId: id, key: 'a', replyId, amount: 40, reason: 'reply' });
    await ledger.hold({ userId: id, key: 'b', replyId: randomUUID(), amount: 40, reason: 'reply' });
    expect(await balance(id)).toBe(20);
    const settled = await Promise.all(Array.from({ length: 5 }, () => ledger.settle('a', 12, 'reply completed')));
    expect(new Set(settled.map((e) => e!.id)).size).toBe(1);
    expect(settled[0]).toMatchObject({ kind: 'SETTLE', amount: 28, balance_after: 48, reply_id: replyId });
    expect(await ledger.settle('b', 0, 'reply cancelled before its first token')).toMatchObject({ kind: 'RELEASE', amount: 40, balance_after: 88 });
    // Using more than was held costs the hold, never more.
    await ledger.hold({ userId: id, key: 'c', replyId: randomUUID(), amount: 10, reason: 'reply' });
    expect(await ledger.settle('c', 1_000, 'reply completed')).toMatchObject({ kind: 'SETTLE', amount: 0 });
    expect(await ledger.settle('unknown', 5, 'reply completed')).toBeUndefined();
    expect(await balance(id)).toBe(78);
    expect(await ledger.sum(id)).toBe(78);
  });

  it('keeps the ledger summing to the balance through a storm of holds, settlements, releases and grants', async () => {
    const id = await newUser(500);
    const work = Array.from({ length: 60 }, async (_, i) => {
      const held = await ledger.hold({ userId: id, key: `s${i}`, replyId: randomUUID(), amount: 20 + (i % 7), reason: 'reply' });
      if (i % 5 === 0) await ledger.grant({ userId: id, amount: 15, reason: 'bonus', key: `grant:${i}`, kind: 'GRANT' });
      if (held.held) await Promise.all([ledger.settle(`s${i}`, i % 3 === 0 ? 0 : i, 'end'), ledger.settle(`s${i}`, i % 3 === 0 ? 0 : i, 'end')]);
    });
    await Promise.all(work);
    const rows = await database.db.selectFrom('credit_ledger').selectAll().where('user_id', '=', id).orderBy('created_at').orderBy('id').execute();
    expect(rows.every((r) => r.balance_after >= 0)).toBe(true);
    expect(await ledger.sum(id)).toBe(await balance(id));
  });

  it('grants once per key, and refuses a grant past the largest balance', async () => {
    const id = await newUser(10);
    const [a, b] = await Promise.all([
      ledger.grant({ userId: id, amount: 5, reason: 'welcome', key: 'g1', kind: 'GRANT' }),
      ledger.grant({ userId: id, amount: 5, reason: 'welcome', key: 'g1', kind: 'GRANT' }),
    ]);
    expect(a!.id).toBe(b!.id);
    expect(await balance(id)).toBe(15);
    expect(await ledger.grant({ userId: id, amount: MAX_BALANCE, reason: 'too much', key: 'g2', kind: 'GRANT' })).toBeUndefined();
    expect(await ledger.grant({ userId: randomUUID(), amount: 1, reason: 'nobody', key: 'g3', kind: 'GRANT' })).toBeUndefined();
    expect(await balance(id)).toBe(15);
  });

  it('pages a user\'s movements newest first', async () => {
    const id = await newUser(50);
    await ledger.grant({ userId: id, amount: 1, reason: 'one', key: `p1${id}`, kind: 'GRANT' });
    await ledger.grant({ userId: id, amount: 2, reason: 'two', key: `p2${id}`, kind: 'REFILL' });
    const first = await ledger.page(id, { direction: 'forward', limit: 2, cursor: null });
    expect(first.map((r) => r.kind)).toEqual(['REFILL', 'GRANT', 'INITIAL']);
  });

  it('migrates the ledger of the first release: kinds, balances after, and a negative balance forgiven', async () => {
    const { config: oldConfig, schema: oldSchema } = storageFor(`${NAME}_old`, engine);
    const first = { '001_accounts': migrations['001_accounts'] };
    const old = await openDatabase<any>({ name: NAME, config: oldConfig, migrations: first });
    try {
      const id = randomUUID();
      await old.db.insertInto('users').values({ id, email: 'old@example.com', password_hash: 'h', display_name: 'Old', role: 'USER', credits: -40 }).execute();
      const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
      await old.db.insertInto('credit_ledger').values([
        { id: randomUUID(), user_id: id, amount: 100, reason: 'opening balance', idempotency_key: `opening:${id}`, created_at: at(1) },
        { id: randomUUID(), user_id: id, amount: -140, reason: 'reply:x', idempotency_key: `${id}:reply:x`, created_at: at(2) },
      ]).execute();
      const migrated: Database<any> = engine === 'pglite' ? old : await openDatabase<UsersTables>({ name: NAME, config: oldConfig, migrations });
      if (engine === 'pglite') {
        // An embedded database in memory cannot be reopened: migrate the same connection.
        const { Migrator } = await import('kysely/migration');
        await new Migrator({ db: old.db, provider: { getMigrations: async () => migrations } }).migrateToLatest();
      }
      const rows = await migrated.db.selectFrom('credit_ledger').selectAll().where('user_id', '=', id).orderBy('created_at').execute();
      expect(rows.map((r: any) => [r.kind, r.amount, r.balance_after])).toEqual([['INITIAL', 100, 100], ['SETTLE', -140, -40], ['GRANT', 40, 0]]);
      expect((await migrated.db.selectFrom('users').select('credits').where('id', '=', id).executeTakeFirstOrThrow()).credits).toBe(0);
      if (migrated !== old) await migrated.close();
    } finally {
      await old.close();
      if (engine === 'postgres') await dropSchema(TEST_DATABASE_URL, oldSchema);
    }
  });

  it('releases holds that never ended once they expire, and only those', async () => {
    const id = await newUser(100);
    await ledger.hold({ userId: id, key: `x${id}`, replyId: randomUUID(), amount: 30, reason: 'reply' });
    await ledger.hold({ userId: id, key: `y${id}`, replyId: randomUUID(), amount: 20, reason: 'reply' });
    await ledger.settle(`y${id}`, 5, 'reply completed');
    expect(await ledger.releaseExpired(60_000)).toBe(0);
    expect(await balance(id)).toBe(65);
    expect(await ledger.releaseExpired(0)).toBeGreaterThanOrEqual(1);
    expect(await balance(id)).toBe(95);
    expect(await ledger.settle(`x${id}`, 30, 'too late')).toMatchObject({ kind: 'RELEASE', amount: 30 });
    expect(await balance(id)).toBe(95);
    expect(await ledger.sum(id)).toBe(95);
  });

  it('refuses a balance below zero at the database itself', async () => {
    const id = await newUser(1);
    await expect(sql`UPDATE users SET credits = -1 WHERE id = ${id}`.execute(database.db)).rejects.toThrow();
  });
});
