/** Personas on both engines: one default per user whatever races, the cap, and only the owner's writes. */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { openDatabase, type Database } from '@chat/shared/db';
import { dropSchema } from '../../../test/support/postgres';
import { TEST_DATABASE_URL } from '../../../test/support/system';
import { storageFor, type Engine } from '../../../test/support/stores';
import { migrations, UsersStore, type UsersTables } from '../store';

const NAME = 'users';

describe.each<Engine>(['pglite', 'postgres'])('PersonaStore on %s', (engine) => {
  const { config, schema } = storageFor(`${NAME}_personas`, engine);
  let database: Database<UsersTables>;
  let users: UsersStore;

  const newUser = async () =>
    (await users.createUser({ email: `p${randomBytes(4).toString('hex')}@example.com`, passwordHash: 'h', displayName: 'P', role: 'USER', credits: 0 }))!.id;
  const persona = (name: string, is_default = false) => ({ name, description: `${name}, a traveller.`, is_default });
  const defaults = async (owner: string) => (await users.personas.ofOwner(owner)).filter((p) => p.is_default).map((p) => p.name);

  beforeAll(async () => {
    database = await openDatabase<UsersTables>({ name: NAME, config, migrations });
    users = new UsersStore(database);
  }, 60_000);

  afterAll(async () => {
    await database?.close();
    if (engine === 'postgres') await dropSchema(TEST_DATABASE_URL, schema);
  });

  it('keeps one default: making another the default unsets the first', async () => {
    const owner = await newUser();
    const first = await users.personas.create(owner, persona('Ada', true), 100);
    expect(first).toMatchObject({ owner_id: owner, name: 'Ada', is_default: true, deleted_at: null });
    await users.personas.create(owner, persona('Bea', true), 100);
    expect(await defaults(owner)).toEqual(['Bea']);
    const cid = await users.personas.create(owner, persona('Cid'), 100);
    await users.personas.update(owner, cid!.id, { is_default: true });
    expect(await defaults(owner)).toEqual(['Cid']);
    await users.personas.update(owner, cid!.id, { is_default: false });
    expect(await defaults(owner)).toEqual([]);
    expect((await users.personas.ofOwner(owner)).map((p) => p.name)).toEqual(['Ada', 'Bea', 'Cid']);
  });

  it('keeps one default when many are made default at once', async () => {
    const owner = await newUser();
    const created = await Promise.all(['A', 'B', 'C', 'D'].map((name) => users.personas.create(owner, persona(name), 100)));
    await Promise.all([...created.map((p) => users.personas.update(owner, p!.id, { is_default: true })), users.personas.create(owner, persona('E', true), 100)]);
    expect(await defaults(owner)).toHaveLength(1);
  });

  it("changes and deletes only the owner's live personas, leaving the rest as they were", async () => {
    const [owner, other] = [await newUser(), await newUser()];
    const mine = await users.personas.create(owner, persona('Mine', true), 100);
    expect(await users.personas.update(other, mine!.id, { name: 'Taken', is_default: true })).toBeUndefined();
    expect(await users.personas.softDelete(other, mine!.id)).toBe(false);
    // A refused update made nobody's default change.
    const theirs = await users.personas.create(other, persona('Theirs', true), 100);
    expect(await users.personas.update(owner, theirs!.id, { is_default: true })).toBeUndefined();
    expect(await defaults(owner)).toEqual(['Mine']);
    expect(await defaults(other)).toEqual(['Theirs']);
    expect(await users.personas.update(owner, 'not-a-uuid', { name: 'x' })).toBeUndefined();
    // Deleted: gone from the list and no longer the default, still readable by id.
    expect(await users.personas.softDelete(owner, mine!.id)).toBe(true);
    expect(await users.personas.ofOwner(owner)).toEqual([]);
    const [row] = await users.personas.byIds([mine!.id, randomUUID(), 'nope']);
    expect(row).toMatchObject({ name: 'Mine', is_default: false, deleted_at: expect.any(Date) });
    expect(await users.personas.update(owner, mine!.id, { name: 'Back' })).toBeUndefined();
  });

  it('refuses more than the cap, counting live personas only', async () => {
    const owner = await newUser();
    const made = await Promise.all([1, 2, 3, 4].map((i) => users.personas.create(owner, persona(`P${i}`), 3)));
    expect(made.filter(Boolean)).toHaveLength(3);
    await users.personas.softDelete(owner, made.find(Boolean)!.id);
    expect(await users.personas.create(owner, persona('Again'), 3)).toBeDefined();
  });
});
