/** An import in the store, on both engines: stored whole with its tree, hidden from search until recorded, exported back the same. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { openDatabase, type Database } from '@chat/shared/db';
import { dropSchema } from '../../../test/support/postgres';
import { storageFor, type Engine } from '../../../test/support/stores';
import { TEST_DATABASE_URL } from '../../../test/support/system';
import { MessagesStore, migrations, type MessagesTables } from '../store';
import { importedRows } from './import';
import { fromSillyTavern } from './sillytavern';

const NAME = 'messages';
const FILE = [
  { user_name: 'You', character_name: 'Aria', chat_metadata: {} },
  { name: 'Aria', is_user: false, send_date: '2024-01-22T04:13:00.000Z', mes: 'The marshes are flooded.' },
  { name: 'You', is_user: true, send_date: '2024-01-22T04:13:20.000Z', mes: 'Which marshes?' },
  { name: 'Aria', is_user: false, send_date: '2024-01-22T04:14:00.000Z', mes: 'The eastern marshes.', swipes: ['The western ones.', 'The eastern marshes.'], swipe_id: 1 },
]
  .map((line) => JSON.stringify(line))
  .join('\n');

describe.each<Engine>(['pglite', 'postgres'])('imports in the store on %s', (engine) => {
  const { config, schema } = storageFor(NAME, engine);
  let database: Database<MessagesTables>;
  let store: MessagesStore;

  beforeAll(async () => {
    database = await openDatabase<MessagesTables>({ name: NAME, config, migrations });
    store = new MessagesStore(database);
  }, 60_000);
  afterAll(async () => {
    await database?.close();
    if (engine === 'postgres') await dropSchema(TEST_DATABASE_URL, schema);
  });

  it('stores the tree whole, hidden from search until the conversation is recorded', async () => {
    const owner = randomUUID();
    const conversationId = randomUUID();
    const chat = fromSillyTavern(FILE);
    await store.files.storeImport(conversationId, owner, randomUUID(), importedRows(chat, conversationId, owner));
    const search = () => store.search.page('marshes', ['simple'], { userId: owner }, { anchor: new Date(), maxSeq: Number.MAX_SAFE_INTEGER, after: null }, 10);
    expect(await search()).toEqual([]);
    expect((await store.ownersOf([conversationId]))[0]).toMatchObject({ user_id: owner, importing: true });
    await store.files.imported(conversationId);
    expect((await search()).map((hit) => hit.message.content).sort()).toEqual(['The eastern marshes.', 'The marshes are flooded.', 'Which marshes?']);

    const tree = await store.files.tree(conversationId);
    expect(tree.map((m) => [m.role, m.content, m.active, m.created_at.toISOString()])).toEqual([
      ['ASSISTANT', 'The marshes are flooded.', true, '2024-01-22T04:13:00.000Z'],
      ['USER', 'Which marshes?', true, '2024-01-22T04:13:20.000Z'],
      ['ASSISTANT', 'The western ones.', false, '2024-01-22T04:14:00.000Z'],
      ['ASSISTANT', 'The eastern marshes.', true, '2024-01-22T04:14:00.000Z'],
    ]);
    const [greeting, question, west, east] = tree;
    expect([question.parent_id, west.parent_id, east.parent_id]).toEqual([greeting.id, question.id, question.id]);
    expect([greeting.active_child_id, question.active_child_id, question.author_id]).toEqual([question.id, east.id, owner]);
    expect((await store.pathEnd(conversationId))?.id).toBe(east.id);
  });
});
