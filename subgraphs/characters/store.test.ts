/** The characters store on both engines: embedded PGlite and a PostgreSQL server. */
import { randomBytes, randomUUID } from 'node:crypto';
import { dropSchema } from '../../test/support/postgres';
import { TEST_DATABASE_URL } from '../../test/support/system';
import { itMigratesIdempotently, storageFor, walkPages, type Engine } from '../../test/support/stores';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { openDatabase, type Database } from '@chat/shared/db';
import { characterCursor, CharactersStore, migrations, type CharacterFields, type CharactersTables, type ListScope } from './store';

const NAME = 'characters';

/** A word no other test uses, so each test reads only its own characters from the shared table. */
const unique = (prefix: string) => `${prefix}${randomBytes(4).toString('hex')}`;

function fields(overrides: Partial<CharacterFields> = {}): CharacterFields {
  return {
    name: 'Captain Nemo',
    description: 'A reclusive submarine captain.',
    personality: 'brooding',
    scenario: 'Aboard the Nautilus.',
    greeting: 'Welcome aboard.',
    example_dialogue: '',
    system_prompt: '',
    tags: [],
    visibility: 'PUBLIC',
    ...overrides,
  };
}

const anonymous: ListScope = { viewerId: null, admin: false };

describe.each<Engine>(['pglite', 'postgres'])('CharactersStore on %s', (engine) => {
  const { config, schema } = storageFor(NAME, engine);
  let database: Database<CharactersTables>;
  let store: CharactersStore;

  const open = (c: typeof config = config) => openDatabase<CharactersTables>({ name: NAME, config: c, migrations });
  /** Every page of a listing, walked with real cursors. */
  function listAll(scope: ListScope, filter: { search?: string; tag?: string }, first = 2) {
    return walkPages((window) => store.list(scope, window, filter), characterCursor, first);
  }


  beforeAll(async () => {
    database = await open();
    store = new CharactersStore(database);
  }, 60_000);

  afterAll(async () => {
    await database?.close();
    if (engine === 'postgres') await dropSchema(TEST_DATABASE_URL, schema);
  });

  itMigratesIdempotently({ name: NAME, engine, config, migrations, current: () => database, tables: ['characters'] });

  it('creates a character and reads it back by id', async () => {
    const owner = randomUUID();
    const created = await store.create(owner, fields({ tags: ['pirate', 'sea'], example_dialogue: '{{user}}: hi', system_prompt: 'Stay in character.' }));
    expect(created).toMatchObject({ owner_id: owner, name: 'Captain Nemo', tags: ['pirate', 'sea'], visibility: 'PUBLIC', deleted_at: null });
    expect(created.created_at).toBeInstanceOf(Date);
    expect(created.updated_at.getTime()).toBe(created.created_at.getTime());

    const [read] = await store.byIds([created.id, 'not-a-uuid']);
    expect(read).toEqual(created);
    expect(await store.byIds(['not-a-uuid'])).toEqual([]);
  });

  it('pages newest first with cursors, each character once', async () => {
    const tag = unique('page');
    const owner = randomUUID();
    const created = [];
    for (let i = 0; i < 5; i++) created.push(await store.create(owner, fields({ name: `Page ${i}`, tags: [tag] })));
    const newestFirst = [...created]
      .sort((a, b) => b.created_at.getTime() - a.created_at.getTime() || (a.id < b.id ? 1 : -1))
      .map((c) => c.id);

    const pages = await listAll(anonymous, { tag }, 2);
    expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
    expect(pages.flat()).toEqual(newestFirst);

    // limit + 1 rows: the extra one only says there is more.
    expect(await store.list(anonymous, { direction: 'forward', limit: 2, cursor: null }, { tag })).toHaveLength(3);
  });

  it('searches name, description and tags, and escapes LIKE wildcards', async () => {
    const word = unique('zephyr');
    const owner = randomUUID();
    const byName = await store.create(owner, fields({ name: `${word} the Navigator` }));
    const byDescription = await store.create(owner, fields({ name: 'Someone', description: `Sails with ${word} winds.` }));
    const byTag = await store.create(owner, fields({ name: 'Other', tags: [word] }));
    await store.create(owner, fields({ name: 'Unrelated' }));

    const ids = async (search: string) => (await listAll(anonymous, { search }, 100)).flat().sort();
    expect(await ids(word)).toEqual([byName.id, byDescription.id, byTag.id].sort());
    // A fragment of a name matches too.
    expect(await ids(word.slice(2, 10))).toEqual([byName.id]);
    // % and _ are literal characters, not wildcards.
    expect(await ids(`${word.slice(0, 3)}%`)).toEqual([]);
  });

  it('filters by one tag exactly', async () => {
    const tag = unique('tag');
    const owner = randomUUID();
    const both = await store.create(owner, fields({ tags: [tag, 'extra'] }));
    const only = await store.create(owner, fields({ tags: [tag] }));
    await store.create(owner, fields({ tags: [`${tag}x`] }));
    expect((await listAll(anonymous, { tag }, 100)).flat().sort()).toEqual([both.id, only.id].sort());
  });

  it('shows private characters only to their owner and to admins', async () => {
    const tag = unique('vis');
    const owner = randomUUID();
    const stranger = randomUUID();
    const open_ = await store.create(owner, fields({ tags: [tag], visibility: 'PUBLIC' }));
    const hidden = await store.create(owner, fields({ tags: [tag], visibility: 'PRIVATE' }));
    const strangers = await store.create(stranger, fields({ tags: [tag], visibility: 'PRIVATE' }));

    const seen = async (scope: ListScope) => (await listAll(scope, { tag }, 100)).flat().sort();
    expect(await seen(anonymous)).toEqual([open_.id]);
    expect(await seen({ viewerId: stranger, admin: false })).toEqual([open_.id, strangers.id].sort());
    expect(await seen({ viewerId: owner, admin: false })).toEqual([open_.id, hidden.id].sort());
    expect(await seen({ viewerId: randomUUID(), admin: true })).toEqual([open_.id, hidden.id, strangers.id].sort());
  });

  it('remembers who talks with a character, once each, and answers for many characters in one query', async () => {
    const [first, second, untouched] = await Promise.all([1, 2, 3].map(() => store.create(randomUUID(), fields({ visibility: 'PRIVATE' }))));
    const [user, other] = [randomUUID(), randomUUID()];
    await store.addToAudience(first.id, user);
    await store.addToAudience(first.id, user); // a second conversation with it changes nothing
    await store.addToAudience(second.id, user);
    await store.addToAudience(second.id, other);
    const before = database.stats.queries;
    expect((await store.audienceOf(user, [first.id, second.id, untouched.id, 'not-a-uuid'])).sort()).toEqual([first.id, second.id].sort());
    expect(database.stats.queries - before).toBe(1);
    expect(await store.audienceOf(other, [first.id, second.id])).toEqual([second.id]);
    expect(await store.audienceOf(user, [])).toEqual([]);
  });

  it('updates only the given fields and moves updatedAt', async () => {
    const created = await store.create(randomUUID(), fields({ tags: ['a'] }));
    await new Promise((r) => setTimeout(r, 5));
    const updated = await store.update(created.id, { name: 'Nemo II', tags: ['b', 'c'], visibility: 'PRIVATE' });
    expect(updated).toMatchObject({ id: created.id, name: 'Nemo II', tags: ['b', 'c'], visibility: 'PRIVATE', description: created.description });
    expect(updated!.updated_at.getTime()).toBeGreaterThan(created.updated_at.getTime());
    expect(updated!.created_at).toEqual(created.created_at);
    expect(await store.update(randomUUID(), { name: 'ghost' })).toBeUndefined();
  });

  it('soft-deletes: gone from lists and updates, still readable by id', async () => {
    const tag = unique('del');
    const owner = randomUUID();
    const kept = await store.create(owner, fields({ tags: [tag] }));
    const deleted = await store.create(owner, fields({ tags: [tag] }));

    expect(await store.softDelete(deleted.id)).toBe(true);
    expect(await store.softDelete(deleted.id)).toBe(false);
    expect(await store.softDelete(randomUUID())).toBe(false);

    expect((await listAll({ viewerId: owner, admin: true }, { tag }, 100)).flat()).toEqual([kept.id]);
    expect(await store.update(deleted.id, { name: 'back' })).toBeUndefined();
    const [row] = await store.byIds([deleted.id]);
    expect(row.deleted_at).toBeInstanceOf(Date);
    expect(row.name).toBe(deleted.name);
  });
});
