/**
 * deleteAccount's saga store on both engines: an erasure recorded twice is one; the account can no
 * longer sign in; a step claimed by one worker is not claimed by another until its lease ends; a
 * failed step waits until its retry; the last step runs only once every remote step is done, and
 * leaves no row naming the user (its sessions kept as ids only).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { openDatabase, type Database } from '@chat/shared/db';
import { dropSchema } from '../../../test/support/postgres';
import { storageFor, type Engine } from '../../../test/support/stores';
import { TEST_DATABASE_URL } from '../../../test/support/system';
import { USERS_ERASURE } from '../erasure';
import { migrations, UsersStore, type UsersTables } from '../store';
import { ERASED_PASSWORD_HASH, REMOTE_STEPS } from './saga-store';
import { retryDelayMs } from './saga-worker';

const NAME = 'users';

describe.each<Engine>(['pglite', 'postgres'])('SagaStore on %s', (engine) => {
  const { config, schema } = storageFor(NAME, engine);
  let database: Database<UsersTables>;
  let store: UsersStore;

  beforeAll(async () => {
    database = await openDatabase<UsersTables>({ name: NAME, config, migrations });
    store = new UsersStore(database);
  }, 60_000);
  afterAll(async () => {
    await database?.close();
    if (engine === 'postgres') await dropSchema(TEST_DATABASE_URL, schema);
  });

  it('records one erasure, leases its steps, retries a failure later, and finishes without a trace', async () => {
    const user = (await store.createUser({ email: `${randomUUID()}@example.com`, passwordHash: 'hash', displayName: 'Leaving', role: 'USER', credits: 10 }))!;
    const session = await store.sessions.start(user.id, 3600);
    const [first, second] = await Promise.all([store.saga.begin(user.id), store.saga.begin(user.id)]);
    expect([first, second]).toEqual([true, true]);
    expect(await store.saga.begin(randomUUID())).toBe(false);
    expect((await store.saga.stepsOf(user.id)).map((s) => s.step).sort()).toEqual([...REMOTE_STEPS, 'users'].sort());
    expect((await store.usersByIds([user.id]))[0].password_hash).toBe(ERASED_PASSWORD_HASH);
    expect(await store.sessions.rotate(session.refreshToken, 3600)).toBe('revoked');

    // Two workers at once: each step goes to one of them.
    const now = new Date();
    const [a, b] = await Promise.all([store.saga.claimDue(now, 60_000, 2), store.saga.claimDue(now, 60_000, 2)]);
    const mine = (rows: typeof a) => rows.filter((r) => r.user_id === user.id).map((r) => r.step);
    const claimed = [...mine(a), ...mine(b)];
    expect(claimed.length).toBeLessThanOrEqual(REMOTE_STEPS.length);
    expect(new Set(claimed).size).toBe(claimed.length);
    // Leased: nobody claims them again before the lease ends.
    const rest = mine(await store.saga.claimDue(now, 60_000, 10));
    expect([...claimed, ...rest].sort()).toEqual([...REMOTE_STEPS].sort());
    expect(mine(await store.saga.claimDue(now, 60_000, 10))).toEqual([]);

    // Not finished while a remote step is pending; a failed one waits for its retry.
    await store.saga.markDone(user.id, 'messages');
    await store.saga.markDone(user.id, 'characters');
    await store.saga.markFailed(user.id, 'conversations', new Date(now.getTime() + retryDelayMs(1)), 'down');
    expect(await store.saga.readyToFinish(10)).not.toContain(user.id);
    expect(await store.saga.finish(user.id, USERS_ERASURE)).toBeUndefined();
    expect(mine(await store.saga.claimDue(now, 60_000, 10))).toEqual([]);
    expect(mine(await store.saga.claimDue(new Date(now.getTime() + retryDelayMs(1) + 1), 60_000, 10))).toEqual(['conversations']);
    await store.saga.markDone(user.id, 'conversations');

    expect(await store.saga.readyToFinish(10)).toContain(user.id);
    expect(await store.saga.finish(user.id, USERS_ERASURE)).toBe(user.email);
    expect(await store.saga.finish(user.id, USERS_ERASURE)).toBeUndefined();
    expect(await store.saga.stepsOf(user.id)).toEqual([]);
    expect(await store.usersByIds([user.id])).toEqual([]);
    // The ended session is still refused, known by its id alone.
    expect((await store.sessions.revokedSince(new Date(0))).map((r) => r.familyId)).toContain(session.familyId);
  });

  it('backs off exponentially, up to its ceiling', () => {
    expect([1, 2, 3, 4].map(retryDelayMs)).toEqual([1_000, 2_000, 4_000, 8_000]);
    expect(retryDelayMs(40)).toBe(5 * 60_000);
  });
});
