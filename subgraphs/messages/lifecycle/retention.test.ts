/**
 * The messages subgraph's retention on both engines, with a clock the test controls (each run is
 * given its `now`): what is due is purged and the rest stays; two instances running at once purge
 * it once; a dry run counts and changes nothing.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { openDatabase, type Database } from '@chat/shared/db';
import { dropSchema } from '../../../test/support/postgres';
import { storageFor, type Engine } from '../../../test/support/stores';
import { TEST_DATABASE_URL } from '../../../test/support/system';
import { MessagesStore, migrations, type MessagesTables } from '../store';
import { MessagesRetention } from './retention';

const NAME = 'messages';
const DAY_MS = 24 * 3600_000;
const PERIODS = { deletedDays: 180, archivedDays: 730 };

describe.each<Engine>(['pglite', 'postgres'])('MessagesRetention on %s', (engine) => {
  const { config, schema } = storageFor(NAME, engine);
  let database: Database<MessagesTables>;
  let store: MessagesStore;
  const t0 = new Date('2030-01-01T00:00:00Z');
  const at = (days: number) => new Date(t0.getTime() + days * DAY_MS);

  beforeAll(async () => {
    database = await openDatabase<MessagesTables>({ name: NAME, config, migrations });
    store = new MessagesStore(database);
  });
  afterAll(async () => {
    await database?.close();
    if (engine === 'postgres') await dropSchema(TEST_DATABASE_URL, schema);
  });

  /** A conversation with its greeting and `replies` more messages, each the child of the one before. */
  async function conversation(replies: number): Promise<{ id: string; messageIds: string[] }> {
    const id = randomUUID();
    const first = await store.recordStart(id, randomUUID(), 'Hello.');
    const messageIds = [first.id];
    for (let i = 0; i < replies; i++) {
      const row = await database.db
        .insertInto('messages')
        .values({ id: randomUUID(), conversation_id: id, role: 'USER', content: `m${i}`, status: 'COMPLETED', created_at: t0, parent_id: messageIds.at(-1), active: true } as never)
        .returning('id')
        .executeTakeFirstOrThrow();
      messageIds.push(row.id);
    }
    return { id, messageIds };
  }

  const remaining = async (ids: string[]) => (await store.byIds(ids)).map((m) => m.id).sort();

  it('purges what is due at each moment, and keeps the rest', async () => {
    const deleted = await conversation(3); // 4 messages, deleted at t0
    const archived = await conversation(1); // 2 messages, archived at t0
    const live = await conversation(4); // 5 messages; its last two deleted at t0 (a branch's tip and its parent)
    const kept = await conversation(2);
    await store.lifecycle.setState(deleted.id, { deletedAt: t0, archivedAt: null });
    await store.lifecycle.setState(archived.id, { deletedAt: null, archivedAt: t0 });
    await database.db.updateTable('messages').set({ deleted_at: t0 }).where('id', 'in', live.messageIds.slice(-2)).execute();
    const retention = new MessagesRetention(database, PERIODS);

    // Before the period nothing is due.
    expect(await retention.run(at(179), true)).toEqual({ messagesPurged: 0, conversationsPurged: 0 });
    expect(await retention.run(at(179), false)).toEqual({ messagesPurged: 0, conversationsPurged: 0 });

    // After 180 days: the deleted conversation (4 messages) and the two deleted messages. A dry run counts them and changes nothing.
    expect(await retention.run(at(181), true)).toEqual({ messagesPurged: 6, conversationsPurged: 1 });
    expect(await remaining(deleted.messageIds)).toHaveLength(4);

    // Two instances at once: the purge happens once.
    const other = new MessagesRetention(database, PERIODS);
    const runs = await Promise.all([retention.run(at(181), false), other.run(at(181), false)]);
    const done = runs.filter((r) => r !== undefined);
    expect(done.reduce((sum, r) => sum + r!.messagesPurged, 0)).toBe(6);
    expect(done.reduce((sum, r) => sum + r!.conversationsPurged, 0)).toBe(1);
    expect(done.filter((r) => r!.messagesPurged > 0)).toHaveLength(1);

    expect(await remaining(deleted.messageIds)).toEqual([]);
    expect(await store.ownersOf([deleted.id])).toEqual([]);
    expect(await remaining(live.messageIds)).toEqual(live.messageIds.slice(0, 3).sort());
    expect(await remaining(archived.messageIds)).toHaveLength(2);
    expect(await remaining(kept.messageIds)).toHaveLength(3);

    // After 730 days the archived conversation's messages go; the conversation stays, empty.
    expect(await retention.run(at(729), false)).toEqual({ messagesPurged: 0, conversationsPurged: 0 });
    expect(await retention.run(at(731), false)).toEqual({ messagesPurged: 2, conversationsPurged: 0 });
    expect(await remaining(archived.messageIds)).toEqual([]);
    expect(await store.ownersOf([archived.id])).toHaveLength(1);
    expect(await remaining(kept.messageIds)).toHaveLength(3);
  });
});
