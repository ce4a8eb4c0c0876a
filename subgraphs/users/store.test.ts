/** The users store on both engines: embedded PGlite and a PostgreSQL server. */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { sql, type Kysely } from 'kysely';
import { dropSchema, openDatabase, type Database } from '@chat/shared/db';
import { migrations, UsersStore, type UsersTables } from './store';

const NAME = 'users';
const POSTGRES_URL = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
type Engine = 'pglite' | 'postgres';

/** Where one engine keeps this file's database: in memory, or a schema of its own on the server. */
function storageFor(engine: Engine) {
  const prefix = `st_${NAME}_${process.pid}_${randomBytes(4).toString('hex')}_`;
  const config =
    engine === 'pglite'
      ? { dataDir: 'memory://', databaseSchemaPrefix: '' }
      : { dataDir: 'memory://', databaseUrl: POSTGRES_URL, databaseSchemaPrefix: prefix };
  return { config, schema: `${prefix}${NAME}` };
}

/** The tables in the connection's current schema. */
async function tablesOf(db: Kysely<any>): Promise<string[]> {
  const { rows } = await sql<{ table_name: string }>`
    SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name`.execute(db);
  return rows.map((r) => r.table_name);
}

let emails = 0;
const newEmail = () => `user${++emails}-${randomBytes(3).toString('hex')}@example.com`;

describe.each<Engine>(['pglite', 'postgres'])('UsersStore on %s', (engine) => {
  const { config, schema } = storageFor(engine);
  let database: Database<UsersTables>;
  let store: UsersStore;
  let dir: string | undefined;

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
    if (engine === 'postgres') await dropSchema(POSTGRES_URL, schema);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('migrates idempotently: opening the same database again changes nothing', async () => {
    let target = config;
    let before: string[];
    if (engine === 'pglite') {
      // memory:// is a fresh database each time; a folder is the same one twice.
      dir = mkdtempSync(join(tmpdir(), `${NAME}-store-`));
      target = { dataDir: dir, databaseSchemaPrefix: '' };
      const first = await open(target);
      before = await tablesOf(first.db);
      await first.close();
    } else {
      before = await tablesOf(database.db);
    }
    const again = await open(target);
    try {
      const tables = await tablesOf(again.db);
      expect(tables).toEqual(before);
      expect(tables).toEqual(expect.arrayContaining(['users', 'refresh_tokens', 'credit_ledger']));
      const applied = await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(again.db);
      expect(applied.rows.map((r) => r.name)).toEqual(Object.keys(migrations).sort());
    } finally {
      await again.close();
    }
  }, 90_000); // initdb of an on-disk PGlite is slow on a busy machine

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
