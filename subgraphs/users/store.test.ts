/** The users store on both engines: embedded PGlite and a PostgreSQL server. */
import { randomBytes, randomUUID } from 'node:crypto';
import { dropSchema } from '../../test/support/postgres';
import { TEST_DATABASE_URL } from '../../test/support/system';
import { itMigratesIdempotently, storageFor, type Engine } from '../../test/support/stores';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { openDatabase, type Database } from '@chat/shared/db';
import { KNOWN_ADDRESSES_PER_ACCOUNT } from './auth/sessions';
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

  itMigratesIdempotently({ name: NAME, engine, config, migrations, current: () => database, tables: ['users', 'refresh_tokens', 'refresh_families', 'sign_in_addresses', 'credit_ledger'] });

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

  /** Starts a session for a new user; returns its family and first refresh token. */
  const session = async () => {
    const user = await newUser();
    const { familyId, refreshToken } = await store.sessions.start(user.id, 60);
    return { user, familyId, token: refreshToken };
  };
  const rotated = (userId: string) => ({ userId, familyId: expect.any(String), refreshToken: expect.any(String) });

  it('rotates a refresh token once, within its family; only hashes are stored', async () => {
    const { user, familyId: started, token: first } = await session();
    const rotation = await store.sessions.rotate(first, 60);
    expect(rotation).toEqual({ ...rotated(user.id), familyId: started });
    const { familyId, refreshToken: second } = rotation as { familyId: string; refreshToken: string };
    expect(second).not.toBe(first);
    expect(await store.sessions.rotate(second, 60)).toEqual({ ...rotated(user.id), familyId });

    const stored = await database.db.selectFrom('refresh_tokens').select('token_hash').where('family_id', '=', familyId).execute();
    expect(stored).toHaveLength(3);
    expect(stored.map((r) => r.token_hash)).not.toContain(first);
  });

  it('treats a reused refresh token as stolen: "reused", and its whole family is revoked', async () => {
    const { user, token: old } = await session();
    const { refreshToken: next } = (await store.sessions.rotate(old, 60)) as { refreshToken: string };
    const { refreshToken: otherSession } = await store.sessions.start(user.id, 60);

    expect(await store.sessions.rotate(old, 60)).toBe('reused');
    expect(await store.sessions.rotate(next, 60)).toBe('revoked');
    // Another family (another device) is untouched.
    expect(await store.sessions.rotate(otherSession, 60)).toEqual(rotated(user.id));
  });

  it('revokes the family when a replay races the rotation it copies: the token the rotation issued dies too', async () => {
    // The thief and the owner present the same token at once, 15 times; whoever wins the rotation,
    // the loser's replay revokes the family, so nothing the family issued refreshes afterwards.
    const races = await Promise.all(
      Array.from({ length: 15 }, async () => {
        const { token } = await session();
        const outcomes = await Promise.all([store.sessions.rotate(token, 60), store.sessions.rotate(token, 60)]);
        return { token, outcomes };
      }),
    );
    for (const { token, outcomes } of races) {
      const winners = outcomes.filter((o) => typeof o !== 'string');
      expect(winners).toHaveLength(1);
      expect(outcomes.filter((o) => typeof o === 'string')).toEqual(['reused']);
      const { familyId, refreshToken } = winners[0] as { familyId: string; refreshToken: string };
      expect(await store.sessions.rotate(refreshToken, 60)).toBe('revoked');
      expect(await store.sessions.rotate(token, 60)).toBe('revoked');
      const family = await database.db.selectFrom('refresh_families').select('revoked_at').where('id', '=', familyId).executeTakeFirstOrThrow();
      expect(family.revoked_at).toBeInstanceOf(Date);
    }
  });

  it('refuses expired and unknown refresh tokens', async () => {
    const user = await newUser();
    const { refreshToken: expired } = await store.sessions.start(user.id, -1);
    expect(await store.sessions.rotate(expired, 60)).toBe('expired');
    expect(await store.sessions.rotate('no-such-token', 60)).toBe('unknown');
  });

  it('revokes a session by any of its tokens', async () => {
    const { user, token } = await session();
    const { refreshToken: current } = (await store.sessions.rotate(token, 60)) as { refreshToken: string };
    const { refreshToken: elsewhere } = await store.sessions.start(user.id, 60);

    expect(await store.sessions.revokeByToken(token)).toBe(true);
    expect(await store.sessions.rotate(current, 60)).toBe('revoked');
    expect(await store.sessions.revokeByToken('no-such-token')).toBe(false);
    expect(await store.sessions.rotate(elsewhere, 60)).toEqual(rotated(user.id));
  });

  it('lists the families revoked since a moment, by logout and by replay, and no other', async () => {
    const since = new Date(Date.now() - 1_000);
    const loggedOut = await session();
    const replayed = await session();
    const active = await session();
    await store.sessions.rotate(replayed.token, 60);
    expect(await store.sessions.revokeByToken(loggedOut.token)).toBe(true);
    expect(await store.sessions.rotate(replayed.token, 60)).toBe('reused');

    const revoked = await store.sessions.revokedSince(since);
    const ids = revoked.map((r) => r.familyId);
    expect(ids).toEqual(expect.arrayContaining([loggedOut.familyId, replayed.familyId]));
    expect(ids).not.toContain(active.familyId);
    for (const { revokedAt } of revoked) expect(revokedAt.getTime()).toBeGreaterThanOrEqual(since.getTime());
    // Oldest first; and a moment after both revocations lists neither.
    expect(revoked.map((r) => r.revokedAt.getTime())).toEqual(revoked.map((r) => r.revokedAt.getTime()).sort((a, b) => a - b));
    const after = new Date(Math.max(...revoked.map((r) => r.revokedAt.getTime())) + 1);
    const later = (await store.sessions.revokedSince(after)).map((r) => r.familyId);
    expect(later).not.toContain(loggedOut.familyId);
    expect(later).not.toContain(replayed.familyId);
  });

  it('remembers the addresses an account signs in from, hashed, the most recent KNOWN_ADDRESSES_PER_ACCOUNT only', async () => {
    const [user, other] = [await newUser(), await newUser()];
    expect(await store.sessions.isKnownAddress(user.id, '203.0.113.7')).toBe(false);
    await store.sessions.rememberAddress(user.id, '203.0.113.7');
    expect(await store.sessions.isKnownAddress(user.id, '203.0.113.7')).toBe(true);
    expect(await store.sessions.isKnownAddress(other.id, '203.0.113.7')).toBe(false);
    const stored = await database.db.selectFrom('sign_in_addresses').select('address_hash').where('user_id', '=', user.id).execute();
    expect(JSON.stringify(stored)).not.toContain('203.0.113.7');

    for (let i = 0; i < KNOWN_ADDRESSES_PER_ACCOUNT; i += 1) await store.sessions.rememberAddress(user.id, `198.51.100.${i}`);
    const count = await database.db.selectFrom('sign_in_addresses').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', user.id).executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(KNOWN_ADDRESSES_PER_ACCOUNT);
    // The oldest went; the newest stay.
    expect(await store.sessions.isKnownAddress(user.id, '203.0.113.7')).toBe(false);
    expect(await store.sessions.isKnownAddress(user.id, `198.51.100.${KNOWN_ADDRESSES_PER_ACCOUNT - 1}`)).toBe(true);
  });

  it('makes a first admin once: of sign-ups racing for it, one wins; afterwards nobody', async () => {
    // This database may hold admins from other tests: start from none.
    await database.db.updateTable('users').set({ role: 'USER' }).where('role', '=', 'ADMIN').execute();
    const contenders = await Promise.all(Array.from({ length: 5 }, () => newUser()));
    const claimed = await Promise.all(contenders.map((u) => store.claimFirstAdmin(u.id)));
    expect(claimed.filter((u) => u?.role === 'ADMIN')).toHaveLength(1);
    const late = await newUser();
    expect((await store.claimFirstAdmin(late.id))?.role).toBe('USER');
    expect((await store.setRole(late.email, 'ADMIN'))?.role).toBe('ADMIN');
    expect(await store.setRole('nobody@example.com', 'ADMIN')).toBeUndefined();
  });
});
