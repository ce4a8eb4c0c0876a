/** The conversations store on both engines: embedded PGlite and a PostgreSQL server. */
import { randomUUID } from 'node:crypto';
import { dropSchema } from '../../test/support/postgres';
import { TEST_DATABASE_URL } from '../../test/support/system';
import { itMigratesIdempotently, storageFor, walkPages, type Engine } from '../../test/support/stores';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { openDatabase, type Database } from '@chat/shared/db';
import { conversationCursor, ConversationsStore, migrations, type ConversationRow, type ConversationSettings, type ConversationsTables } from './store';

const NAME = 'conversations';

const settings: ConversationSettings = { model: 'local-model', temperature: 0.8, maxTokens: 512, contextWindowTokens: 8192 };

describe.each<Engine>(['pglite', 'postgres'])('ConversationsStore on %s', (engine) => {
  const { config, schema } = storageFor(NAME, engine);
  let database: Database<ConversationsTables>;
  let store: ConversationsStore;

  const open = (c: typeof config = config) => openDatabase<ConversationsTables>({ name: NAME, config: c, migrations });
  const start = (userId: string, title = 'Chat', characterId = randomUUID()) =>
    store.create({ user_id: userId, character_id: characterId, title, tags: [], settings });
  /** Sets when a conversation was last active (what a new message does). */
  const activeAt = (id: string, at: Date) => database.db.updateTable('conversations').set({ last_activity_at: at }).where('id', '=', id).execute();
  /** Every page of a user's list, walked with real cursors. */
  function listAll(userId: string, status?: ConversationRow['status'], first = 2) {
    return walkPages((window) => store.listByUser(userId, window, status), conversationCursor, first);
  }


  beforeAll(async () => {
    database = await open();
    store = new ConversationsStore(database);
  }, 60_000);

  afterAll(async () => {
    await database?.close();
    if (engine === 'postgres') await dropSchema(TEST_DATABASE_URL, schema);
  });

  itMigratesIdempotently({ name: NAME, engine, config, migrations, current: () => database, tables: ['conversations'] });

  it('creates an active conversation with its settings as JSON', async () => {
    const userId = randomUUID();
    const characterId = randomUUID();
    const created = await store.create({ user_id: userId, character_id: characterId, title: 'First', tags: ['fun', 'sea'], settings });
    expect(created).toMatchObject({ user_id: userId, character_id: characterId, title: 'First', status: 'ACTIVE', tags: ['fun', 'sea'], settings });
    expect(created.last_activity_at.getTime()).toBe(created.created_at.getTime());

    const [read] = await store.byIds([created.id, 'not-a-uuid', randomUUID()]);
    expect(read).toEqual(created);
    expect(await store.byIds(['not-a-uuid'])).toEqual([]);
  });

  it('keeps a persona and lorebooks per conversation, none unless given, and changes them', async () => {
    const plain = await start(randomUUID());
    expect(plain).toMatchObject({ persona_id: null, lorebook_ids: [] });
    const [persona, first, second] = [randomUUID(), randomUUID(), randomUUID()];
    const created = await store.create({ user_id: randomUUID(), character_id: randomUUID(), title: 'With lore', tags: [], settings, persona_id: persona, lorebook_ids: [second, first] });
    expect(created).toMatchObject({ persona_id: persona, lorebook_ids: [second, first] });
    expect(await store.update(created.id, { persona_id: null, lorebook_ids: [first] })).toMatchObject({ persona_id: null, lorebook_ids: [first], title: 'With lore' });
  });

  it("lists a user's own conversations by last activity, newest first, across pages", async () => {
    const userId = randomUUID();
    const [a, b, c, d, e] = [await start(userId, 'a'), await start(userId, 'b'), await start(userId, 'c'), await start(userId, 'd'), await start(userId, 'e')];
    await start(randomUUID(), 'someone else');
    const base = Date.now();
    // Activity order differs from creation order: c, a, e, b, d (most recent first).
    await activeAt(c.id, new Date(base + 5000));
    await activeAt(a.id, new Date(base + 4000));
    await activeAt(e.id, new Date(base + 3000));
    await activeAt(b.id, new Date(base + 2000));
    await activeAt(d.id, new Date(base + 1000));

    const pages = await listAll(userId);
    expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
    expect(pages.flat()).toEqual([c.id, a.id, e.id, b.id, d.id]);
    expect(await listAll(randomUUID())).toEqual([[]]);
  });

  it('keeps a stable order when activity times tie', async () => {
    const userId = randomUUID();
    const rows = [await start(userId), await start(userId), await start(userId)];
    const at = new Date();
    for (const row of rows) await activeAt(row.id, at);
    const ids = (await listAll(userId, undefined, 1)).flat();
    expect(ids).toEqual(rows.map((r) => r.id).sort().reverse());
  });

  it('filters by status', async () => {
    const userId = randomUUID();
    const active = await start(userId, 'active');
    const archived = await start(userId, 'archived');
    expect((await store.update(archived.id, { status: 'ARCHIVED' }))?.status).toBe('ARCHIVED');

    expect((await listAll(userId, 'ACTIVE', 10)).flat()).toEqual([active.id]);
    expect((await listAll(userId, 'ARCHIVED', 10)).flat()).toEqual([archived.id]);
    expect((await listAll(userId, undefined, 10)).flat().sort()).toEqual([active.id, archived.id].sort());
  });

  it('updates title, tags, status and settings, and moves updatedAt', async () => {
    const created = await start(randomUUID(), 'Before');
    await new Promise((r) => setTimeout(r, 5));
    const newSettings = { ...settings, temperature: 1.2, model: 'other-model' };
    const updated = await store.update(created.id, { title: 'After', tags: ['x'], settings: newSettings });
    expect(updated).toMatchObject({ id: created.id, title: 'After', tags: ['x'], settings: newSettings, status: 'ACTIVE' });
    expect(updated!.updated_at.getTime()).toBeGreaterThan(created.updated_at.getTime());
    expect(updated!.created_at).toEqual(created.created_at);

    // Fields not given stay as they were.
    const again = await store.update(created.id, { status: 'ARCHIVED' });
    expect(again).toMatchObject({ title: 'After', tags: ['x'], settings: newSettings, status: 'ARCHIVED' });

    expect(await store.update(randomUUID(), { title: 'ghost' })).toBeUndefined();
  });

  it('removes a conversation', async () => {
    const userId = randomUUID();
    const gone = await start(userId);
    const kept = await start(userId);
    await store.remove(gone.id);
    expect(await store.byIds([gone.id])).toEqual([]);
    expect((await listAll(userId, undefined, 10)).flat()).toEqual([kept.id]);
  });
});
