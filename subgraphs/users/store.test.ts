/** The users store on both engines: embedded PGlite and a PostgreSQL server. */
import { randomBytes, randomUUID } from 'node:crypto';
import { TEST_DATABASE_URL } from '../../test/support/system';
import { itMigratesIdempotently, storageFor, type Engine } from '../../test/support/stores';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { dropSchema, openDatabase, type Database } from '@chat/shared/db';
import { migrations, UsersStore, type UsersTables } from './store';

const NAME = 'users';

let emails = 0;
const newEmail = () => `user${++emails}-${randomBytes(3).toString('hex')}@example.com`;

describe.each<Engine>(['pglite', 'postgres'])('UsersStore on %s', (engine) => {
  const { config, schema } = storageFor(NAME, engine);
  let database: Database<UsersTables>;
  let store: UsersStore;

  const open = (c: typeof config = config) => openDatabase<UsersTables>({ name: NAME, config: c, migrations });
  const newUser = async (role: 'USER' | 'ADMIN' = 'USER') => {
    const user = await store.createUser({ email: newEmail(), passwordHash: 'hash', displayName: 'Ada', role, credits: 500 });
    if (!user) throw new Error('createUser refused a fresh email');
    return user;
  };

  beforeAll(async () => {
    database = await open();
    store = new UsersStore(database);
  }, 60_000);

  afterAll(async () => {
    await database?.close();
    if (engine === 'postgres') await dropSchema(TEST_DATABASE_URL, schema);
  });

  itMigratesIdempotently({ name: NAME, engine, config, migrations, current: () => database, tables: ['users', 'refresh_tokens', 'credit_ledger'] });

  it('creates a user with an opening ledger entry, and refuses a taken email', async () => {
    const email = newEmail();
    const user = await store.createUser({ email, passwordHash: 'h1', displayName: 'Ada', role: 'ADMIN', credits: 250 });
    expect(user).toMatchObject({ email, password_hash: 'h1', display_name: 'Ada', role: 'ADMIN', credits: 250 });
    expect(user!.created_at).toBeInstanceOf(Date);

    const ledger = await database.db.selectFrom('credit_ledger').selectAll().where('user_id', '=', user!.id).execute();
    expect(ledger).toEqual([expect.objectContaining({ amount: 250, reason: 'opening balance', idempotency_key: `opening:${user!.id}` })]);

    expect(await store.createUser({ email, passwordHash: 'h2', displayName: 'Eve', role: 'USER', credits: 1 })).toBeUndefined();
    const rows = await database.db.selectFrom('users').selectAll().where('email', '=', email).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0].display_name).toBe('Ada');
  });

  it('finds users by email and by ids in one query, ignoring ids that are not UUIDs', async () => {
    const [a, b] = [await newUser(), await newUser()];
    expect((await store.userByEmail(a.email))?.id).toBe(a.id);
    expect(await store.userByEmail('nobody@example.com')).toBeUndefined();

    const before = database.stats.queries;
    const found = await store.usersByIds([a.id, b.id, randomUUID(), 'not-a-uuid']);
    expect(found.map((u) => u.id).sort()).toEqual([a.id, b.id].sort());
    expect(database.stats.queries - before).toBe(1);

    expect(await store.usersByIds(['nope'])).toEqual([]);
    expect(database.stats.queries - before).toBe(1);
  });

  it('consumes a refresh token once and rotates within its family', async () => {
    const user = await newUser();
    const first = await store.issueRefreshToken(user.id, 60);
    const consumed = await store.consumeRefreshToken(first);
    expect(consumed).toEqual({ userId: user.id, familyId: expect.any(String) });
    const { familyId } = consumed as { familyId: string };

    const second = await store.issueRefreshToken(user.id, 60, familyId);
    expect(second).not.toBe(first);
    expect(await store.consumeRefreshToken(second)).toEqual({ userId: user.id, familyId });

    // Only hashes are stored.
    const stored = await database.db.selectFrom('refresh_tokens').select('token_hash').where('family_id', '=', familyId).execute();
    expect(stored.map((r) => r.token_hash)).not.toContain(first);
  });

  it('treats a reused refresh token as stolen: "reused", and its whole family is revoked', async () => {
    const user = await newUser();
    const old = await store.issueRefreshToken(user.id, 60);
    const { familyId } = (await store.consumeRefreshToken(old)) as { familyId: string };
    const rotated = await store.issueRefreshToken(user.id, 60, familyId);
    const otherSession = await store.issueRefreshToken(user.id, 60);

    expect(await store.consumeRefreshToken(old)).toBe('reused');
    expect(await store.consumeRefreshToken(rotated)).toBe('revoked');
    // Another family (another device) is untouched.
    expect(await store.consumeRefreshToken(otherSession)).toEqual({ userId: user.id, familyId: expect.any(String) });
  });

  it('refuses expired and unknown refresh tokens', async () => {
    const user = await newUser();
    const expired = await store.issueRefreshToken(user.id, -1);
    expect(await store.consumeRefreshToken(expired)).toBe('expired');
    expect(await store.consumeRefreshToken('no-such-token')).toBe('unknown');
  });

  it('revokes a session by any of its tokens', async () => {
    const user = await newUser();
    const token = await store.issueRefreshToken(user.id, 60);
    const { familyId } = (await store.consumeRefreshToken(token)) as { familyId: string };
    const current = await store.issueRefreshToken(user.id, 60, familyId);
    const elsewhere = await store.issueRefreshToken(user.id, 60);

    expect(await store.revokeByToken(token)).toBe(true);
    expect(await store.consumeRefreshToken(current)).toBe('revoked');
    expect(await store.revokeByToken('no-such-token')).toBe(false);
    expect(await store.consumeRefreshToken(elsewhere)).toEqual({ userId: user.id, familyId: expect.any(String) });
  });
});
