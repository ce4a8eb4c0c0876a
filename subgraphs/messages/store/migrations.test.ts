/** 005_tree on both engines: a store of linear conversations (replaced replies included) becomes one active path each. */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { sql } from 'kysely';
import { openDatabase } from '@chat/shared/db';
import { pageWindow } from '@chat/shared/pagination';
import { dropSchema } from '../../../test/support/postgres';
import { storageFor, type Engine } from '../../../test/support/stores';
import { TEST_DATABASE_URL } from '../../../test/support/system';
import { MessagesStore, migrations, type MessagesTables } from './index';

const NAME = 'messages';
/** The schema before the tree: every migration up to 004. */
const LINEAR = Object.fromEntries(Object.entries(migrations).filter(([name]) => name < '005'));

describe.each<Engine>(['pglite', 'postgres'])('the tree migration on %s', (engine) => {
  const storage = storageFor(NAME, engine);
  // PGlite in memory is a new database each time it opens: a folder is the same one twice.
  const dir = engine === 'pglite' ? mkdtempSync(join(tmpdir(), 'messages-tree-migration-')) : undefined;
  const config = dir ? { dataDir: dir, databaseSchemaPrefix: '' } : storage.config;

  afterAll(async () => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (engine === 'postgres') await dropSchema(TEST_DATABASE_URL, storage.schema);
  });

  it('turns each linear conversation into one active path, a replaced reply into an inactive alternative', async () => {
    const conversation = randomUUID();
    const lone = randomUUID();
    const owner = randomUUID();
    const ids = { greeting: randomUUID(), ask: randomUUID(), replaced: randomUUID(), answer: randomUUID(), again: randomUUID(), reply: randomUUID(), loneGreeting: randomUUID() };
    const linear = await openDatabase<any>({ name: NAME, config, migrations: LINEAR });
    try {
      const db = linear.db;
      for (const id of [conversation, lone]) await db.insertInto('conversation_owners').values({ conversation_id: id, user_id: owner, created_at: new Date() }).execute();
      const row = (id: string, conversationId: string, role: string, content: string, extra: Record<string, unknown> = {}) => ({
        id,
        conversation_id: conversationId,
        role,
        content,
        status: 'COMPLETED',
        created_at: new Date(),
        ...extra,
      });
      // In insertion order, as the linear store wrote them: the first reply to "ask" was regenerated.
      for (const values of [
        row(ids.greeting, conversation, 'ASSISTANT', 'Hello.'),
        row(ids.loneGreeting, lone, 'ASSISTANT', 'Alone.'),
        row(ids.ask, conversation, 'USER', 'Ask.', { author_id: owner }),
        row(ids.replaced, conversation, 'ASSISTANT', 'First try.', { reply_to: ids.ask, replaced_by: ids.answer }),
        row(ids.answer, conversation, 'ASSISTANT', 'Second try.', { reply_to: ids.ask }),
        row(ids.again, conversation, 'USER', 'Again.', { author_id: owner }),
        row(ids.reply, conversation, 'ASSISTANT', 'Reply.', { reply_to: ids.again }),
      ]) {
        await db.insertInto('messages').values(values).execute();
      }
    } finally {
      await linear.close();
    }

    const database = await openDatabase<MessagesTables>({ name: NAME, config, migrations });
    try {
      const store = new MessagesStore(database);
      const rows = Object.fromEntries((await store.byIds(Object.values(ids))).map((m) => [m.id, m]));
      const shape = (id: string) => ({ parent: rows[id].parent_id, active: rows[id].active, child: rows[id].active_child_id, deleted: rows[id].deleted_at });
      expect(shape(ids.greeting)).toEqual({ parent: null, active: true, child: ids.ask, deleted: null });
      expect(shape(ids.ask)).toEqual({ parent: ids.greeting, active: true, child: ids.answer, deleted: null });
      expect(shape(ids.replaced)).toEqual({ parent: ids.ask, active: false, child: null, deleted: null });
      expect(shape(ids.answer)).toEqual({ parent: ids.ask, active: true, child: ids.again, deleted: null });
      expect(shape(ids.again)).toEqual({ parent: ids.answer, active: true, child: ids.reply, deleted: null });
      expect(shape(ids.reply)).toEqual({ parent: ids.again, active: true, child: null, deleted: null });
      expect(shape(ids.loneGreeting)).toEqual({ parent: null, active: true, child: null, deleted: null });

      // The active path lists as the linear conversation did; the replaced reply is an alternative.
      const path = await store.page(conversation, pageWindow({ first: 10 }, ['integer'], true));
      expect(path.map((m) => m.content)).toEqual(['Hello.', 'Ask.', 'Second try.', 'Again.', 'Reply.']);
      expect((await store.tree.siblings([ids.ask])).map((m) => m.id)).toEqual([ids.replaced, ids.answer]);
      expect(await store.countsOf([conversation, lone])).toEqual(expect.arrayContaining([{ conversation_id: conversation, count: 5 }, { conversation_id: lone, count: 1 }]));
      expect((await store.history(ids.reply)).map((m) => m.content)).toEqual(['Hello.', 'Ask.', 'Second try.', 'Again.', 'Reply.']);

      // replaced_by is gone; the new indexes are there.
      const columns = await sql<{ column_name: string }>`
        SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'messages'`.execute(database.db);
      expect(columns.rows.map((c) => c.column_name)).not.toContain('replaced_by');
      const indexes = await sql<{ indexname: string }>`SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'messages'`.execute(database.db);
      expect(indexes.rows.map((i) => i.indexname)).toEqual(expect.arrayContaining(['messages_active_path', 'messages_by_parent', 'messages_open']));
    } finally {
      await database.close();
    }
  }, 90_000);
});
