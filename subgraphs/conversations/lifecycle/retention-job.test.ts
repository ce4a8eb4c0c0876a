/**
 * The conversations subgraph's retention on both engines, with a clock the test controls: deleted
 * conversations go once their period has passed, in batches larger than one; the rest stays; two
 * instances at once purge once; a dry run counts and changes nothing.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { openDatabase, type Database } from '@chat/shared/db';
import { exclusively, RETENTION_BATCH } from '@chat/shared/retention';
import pg from 'pg';
import { dropSchema } from '../../../test/support/postgres';
import { storageFor, type Engine } from '../../../test/support/stores';
import { TEST_DATABASE_URL } from '../../../test/support/system';
import { CONVERSATIONS_RETENTION_LOCK, ConversationsRetention } from './retention-job';
import { ConversationsStore, migrations, type ConversationsTables } from '../store';

const NAME = 'conversations';
const DAY_MS = 24 * 3600_000;
const settings = { model: 'local-model', temperature: 0.8, maxTokens: 512, contextWindowTokens: 8192 };

describe.each<Engine>(['pglite', 'postgres'])('ConversationsRetention on %s', (engine) => {
  const { config, schema } = storageFor(NAME, engine);
  let database: Database<ConversationsTables>;
  let store: ConversationsStore;
  const t0 = new Date('2030-01-01T00:00:00Z');
  const at = (days: number) => new Date(t0.getTime() + days * DAY_MS);

  beforeAll(async () => {
    database = await openDatabase<ConversationsTables>({ name: NAME, config, migrations });
    store = new ConversationsStore(database);
  }, 60_000);
  afterAll(async () => {
    await database?.close();
    if (engine === 'postgres') await dropSchema(TEST_DATABASE_URL, schema);
  });

  it('purges deleted conversations after their period, once, in batches, and keeps the rest', async () => {
    const userId = randomUUID();
    const due = RETENTION_BATCH + 3; // more than one batch
    const ids = await Promise.all(Array.from({ length: due + 2 }, () => store.create({ user_id: userId, character_id: randomUUID(), title: 'c', tags: [], settings }).then((c) => c.id)));
    const [deletedLater, live, ...deleted] = ids;
    await database.db.updateTable('conversations').set({ deleted_at: t0 }).where('id', 'in', deleted).execute();
    await store.setDeleted(deletedLater, at(100));
    const retention = new ConversationsRetention(database, { deletedDays: 180, archivedDays: 730 });

    expect(await retention.run(at(179), false)).toBe(0);
    expect(await retention.run(at(181), true)).toBe(due);
    const runs = await Promise.all([retention.run(at(181), false), new ConversationsRetention(database, { deletedDays: 180, archivedDays: 730 }).run(at(181), false)]);
    expect(runs.filter((n) => n !== undefined).reduce((sum, n) => sum + n!, 0)).toBe(due);
    expect(runs.filter((n) => n !== undefined && n > 0)).toHaveLength(1);
    const left = await database.db.selectFrom('conversations').select('id').where('user_id', '=', userId).execute();
    expect(left.map((r) => r.id).sort()).toEqual([deletedLater, live].sort());
    expect(await retention.run(at(281), false)).toBe(1);
    expect((await store.byIds([live])).map((c) => c.id)).toEqual([live]);
  });

  it('does not run while another holder has the lock: another process (PostgreSQL) or this one (PGlite)', async () => {
    const retention = new ConversationsRetention(database, { deletedDays: 180, archivedDays: 730 });
    if (engine === 'postgres') {
      // Another instance's session holds the advisory lock.
      const other = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await other.connect();
      try {
        await other.query('SELECT pg_advisory_lock($1)', [CONVERSATIONS_RETENTION_LOCK]);
        expect(await retention.run(at(181), true)).toBeUndefined();
        await other.query('SELECT pg_advisory_unlock($1)', [CONVERSATIONS_RETENTION_LOCK]);
      } finally {
        await other.end();
      }
    } else {
      expect(await exclusively(database, CONVERSATIONS_RETENTION_LOCK, () => retention.run(at(181), true))).toBeUndefined();
    }
    expect(await retention.run(at(181), true)).toBe(0);
  });
});
