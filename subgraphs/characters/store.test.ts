/** The characters store on both engines: embedded PGlite and a PostgreSQL server. */
import { randomBytes, randomUUID } from 'node:crypto';
import { dropSchema } from '../../test/support/postgres';
import { TEST_DATABASE_URL } from '../../test/support/system';
import { itMigratesIdempotently, storageFor, walkPages, type Engine } from '../../test/support/stores';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { openDatabase, type Database } from '@chat/shared/db';
import { newEntry, type LorebookFields } from './lorebooks/model';
import { lorebookCursor } from './lorebooks/store';
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
    alternate_greetings: [],
    post_history_instructions: '',
    creator_notes: '',
    creator: '',
    character_version: '',
    card_extensions: {},
    card_extra: {},
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

  it('searches creator and creator notes too', async () => {
    const word = unique('quill');
    const owner = randomUUID();
    const byCreator = await store.create(owner, fields({ name: 'By creator', creator: `${word}smith` }));
    const byNotes = await store.create(owner, fields({ name: 'By notes', creator_notes: `Written with ${word} ink.` }));
    expect((await listAll(anonymous, { search: word }, 100)).flat().sort()).toEqual([byCreator.id, byNotes.id].sort());
    expect((await listAll(anonymous, { search: `${word}smith` }, 100)).flat()).toEqual([byCreator.id]);
  });

  it("keeps a card's JSON as it came, and stores a character, its image and its lorebook together", async () => {
    const owner = randomUUID();
    const extensions = { 'tool/x': { nested: [1, 'two', null, { deep: true }] }, fav: false };
    const image = { data: Buffer.from([1, 2, 3, 4]), mime_type: 'image/webp', width: 2, height: 3, etag: 'etag-one' };
    const book = { ...lorebook(), name: 'Lore' };
    const created = await store.create(owner, fields({ card_extensions: extensions, card_extra: { nickname: 'N' }, alternate_greetings: ['Hi.', 'Hey.'] }), { image, lorebook: book });
    expect(created).toMatchObject({ card_extensions: extensions, card_extra: { nickname: 'N' }, alternate_greetings: ['Hi.', 'Hey.'], image_etag: 'etag-one' });
    expect(await store.images.data(created.id)).toEqual(image.data);
    const [embedded] = await store.lorebooks.ofCharacters([created.id]);
    expect(embedded).toMatchObject({ owner_id: owner, character_id: created.id, name: 'Lore', entries: book.entries, extensions: book.extensions, scan_depth: null });
    const served = await store.images.forServing(created.id);
    expect(served).toMatchObject({ visibility: 'PUBLIC', deleted_at: null, etag: 'etag-one', mime_type: 'image/webp' });

    // A book the database refuses (a NUL in JSON) takes the character and its image with it: nothing half-written.
    const tag = unique('atomic');
    const broken = { ...lorebook(), entries: [{ ...lorebook().entries[0], content: 'bad\u0000' }] };
    await expect(store.create(owner, fields({ tags: [tag] }), { image: { ...image, etag: 'etag-two' }, lorebook: broken })).rejects.toThrow();
    expect((await listAll({ viewerId: owner, admin: false }, { tag }, 100)).flat()).toEqual([]);
    const orphans = await database.db.selectFrom('character_images').select('character_id').where('etag', '=', 'etag-two').execute();
    expect(orphans).toEqual([]);
  });

  it("replaces and removes a character's image with its fields, in one write", async () => {
    const created = await store.create(randomUUID(), fields());
    expect(created.image_etag).toBeNull();
    const image = { data: Buffer.from([9, 9]), mime_type: 'image/webp', width: 1, height: 1, etag: 'v1' };
    const withImage = await store.update(created.id, { name: 'Pictured' }, image);
    expect(withImage).toMatchObject({ name: 'Pictured', image_etag: 'v1' });
    expect(await store.update(created.id, { name: 'Same picture' })).toMatchObject({ image_etag: 'v1' });
    expect(await store.update(created.id, {}, { ...image, data: Buffer.from([8]), etag: 'v2' })).toMatchObject({ image_etag: 'v2' });
    expect(await store.images.data(created.id)).toEqual(Buffer.from([8]));
    expect(await store.update(created.id, {}, null)).toMatchObject({ image_etag: null });
    expect(await store.images.data(created.id)).toBeUndefined();
  });

  it("lists a user's own lorebooks newest first (not embedded ones), updates and soft-deletes them", async () => {
    const owner = randomUUID();
    const books = [];
    for (let i = 0; i < 3; i++) books.push(await store.lorebooks.create(owner, { ...lorebook(), name: `Book ${i}` }));
    await store.create(owner, fields(), { lorebook: lorebook() });
    await store.lorebooks.create(randomUUID(), lorebook());
    const pages = await walkPages((window) => store.lorebooks.listOwned(owner, window), lorebookCursor, 2);
    expect(pages.flat()).toEqual(books.map((b) => b.id).reverse());
    const updated = await store.lorebooks.update(books[0].id, { ...lorebook(), name: 'Renamed', scan_depth: 5 });
    expect(updated).toMatchObject({ name: 'Renamed', scan_depth: 5 });
    expect(await store.lorebooks.softDelete(books[0].id)).toBe(true);
    expect(await store.lorebooks.softDelete(books[0].id)).toBe(false);
    expect(await store.lorebooks.update(books[0].id, lorebook())).toBeUndefined();
    expect((await walkPages((window) => store.lorebooks.listOwned(owner, window), lorebookCursor, 10)).flat()).toHaveLength(2);
    const [gone] = await store.lorebooks.byIds([books[0].id, 'not-a-uuid']);
    expect(gone.deleted_at).toBeInstanceOf(Date);
  });
});

/** A lorebook's fields, with one entry carrying extensions and kept fields. */
function lorebook(): LorebookFields {
  return {
    name: 'Book',
    description: '',
    scan_depth: null,
    token_budget: 512,
    recursive_scanning: false,
    extensions: { 'tool/book': 1 },
    extra: {},
    entries: [newEntry({ keys: ['k'], content: 'Lore.', extensions: { depth: 3 }, extra: { id: 4, name: 'Named' } })],
  };
}
