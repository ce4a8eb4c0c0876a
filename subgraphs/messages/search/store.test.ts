/**
 * The search store on both engines: each message indexed in its conversation's language (the trigger, forks, a change
 * of language), and the query shapes the resolver sends (one language and several, a second page) planned on the GIN
 * index once the table holds enough messages for the planner to prefer it (EXPLAIN after ANALYZE).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { sql } from 'kysely';
import { openDatabase, type Database } from '@chat/shared/db';
import { dropSchema } from '../../../test/support/postgres';
import { storageFor, type Engine } from '../../../test/support/stores';
import { TEST_DATABASE_URL } from '../../../test/support/system';
import { MessagesStore, migrations, type MessagesTables } from '../store';
import type { SearchLanguages, SearchPosition } from './store';

const NAME = 'messages';

describe.each<Engine>(['pglite', 'postgres'])('the search store on %s', (engine) => {
  const { config, schema } = storageFor(NAME, engine);
  let database: Database<MessagesTables>;
  let store: MessagesStore;
  const owner = randomUUID();
  const english = randomUUID();
  const plain = randomUUID();

  beforeAll(async () => {
    database = await openDatabase<MessagesTables>({ name: NAME, config, migrations });
    store = new MessagesStore(database);
    await store.recordStart(english, owner, 'The ships were sailing.', [], { language: 'english' });
    await store.recordStart(plain, owner, 'The ships were sailing.', []);
  }, 60_000);
  afterAll(async () => {
    await database?.close();
    if (engine === 'postgres') await dropSchema(TEST_DATABASE_URL, schema);
  });

  const position = (): SearchPosition => ({ anchor: new Date(), maxSeq: Number.MAX_SAFE_INTEGER, after: null });
  const ids = async (query: string, languages: SearchLanguages) => (await store.search.page(query, languages, { userId: owner }, position(), 10)).map((hit) => hit.message.conversation_id);

  it('indexes each message in its conversation language, forks included, and re-indexes on a change', async () => {
    expect((await store.search.languages({ userId: owner })).sort()).toEqual(['english', 'simple']);
    expect(await ids('ship sail', ['english', 'simple'])).toEqual([english]);
    expect((await ids('ships sailing', ['english', 'simple'])).sort()).toEqual([english, plain].sort());
    const greeting = (await store.opening(english))!;
    const forkId = randomUUID();
    await store.tree.copyPath(greeting.id, forkId, owner);
    expect((await ids('ship sail', ['english', 'simple'])).sort()).toEqual([english, forkId].sort());
    await store.search.setLanguage(plain, 'english');
    expect((await ids('ship sail', ['english'])).sort()).toEqual([english, forkId, plain].sort());
    expect(await store.search.languages({ userId: owner, conversationId: plain })).toEqual(['english']);
  });

  it('plans every query shape on the GIN index', async () => {
    // 20,000 messages of chat length that do not match, in both conversations, then fresh statistics (on a few
    // pages of short rows a sequential scan is cheaper, and rightly chosen).
    for (const conversationId of [english, plain]) {
      await sql`
        INSERT INTO messages (id, conversation_id, role, content, status, created_at)
        SELECT gen_random_uuid(), ${conversationId}::uuid, 'USER',
          'filler number ' || g || ' of the harbour log, long enough to fill a page as chat messages do ' || md5(g::text) || ' ' || md5((g + 1)::text),
          'COMPLETED', now()
        FROM generate_series(1, 10000) AS g`.execute(database.db);
    }
    await sql`ANALYZE`.execute(database.db);
    const maxSeq = await store.search.lastSeq();
    for (const languages of [['simple'], ['english', 'simple']] as SearchLanguages[]) {
      const first = await store.search.explainPage('ship', languages, { userId: owner }, { ...position(), maxSeq }, 20);
      expect(first).toContain('messages_search');
      const second = await store.search.explainPage('ship', languages, { userId: owner }, { ...position(), maxSeq, after: { score: '0.5', seq: 10 } }, 20);
      expect(second).toContain('messages_search');
    }
  }, 120_000);
});
