/** The messages store on both engines: embedded PGlite and a PostgreSQL server. */
import { randomUUID } from 'node:crypto';
import { dropSchema } from '../../test/support/postgres';
import { TEST_DATABASE_URL } from '../../test/support/system';
import { itMigratesIdempotently, storageFor, type Engine } from '../../test/support/stores';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { openDatabase, type Database } from '@chat/shared/db';
import { pageWindow, toConnection, type PageArgs } from '@chat/shared/pagination';
import { messageCursor, MessagesStore, migrations, type MessageRow, type MessagesTables } from './store';

const NAME = 'messages';

describe.each<Engine>(['pglite', 'postgres'])('MessagesStore on %s', (engine) => {
  const { config, schema } = storageFor(NAME, engine);
  let database: Database<MessagesTables>;
  let store: MessagesStore;

  const open = (c: typeof config = config) => openDatabase<MessagesTables>({ name: NAME, config: c, migrations });

  /** A conversation that has started (greeting stored), plus `n` more completed messages on its active path, alternating USER and ASSISTANT. */
  async function conversationWith(n: number): Promise<{ id: string; ownerId: string; messages: MessageRow[] }> {
    const id = randomUUID();
    const ownerId = randomUUID();
    const messages = [await store.recordStart(id, ownerId, 'Hello there.')];
    for (let i = 0; i < n; i++) {
      const user = i % 2 === 0;
      const parent = messages.at(-1)!;
      const row = await database.db
        .insertInto('messages')
        .values({
          id: randomUUID(),
          conversation_id: id,
          role: user ? 'USER' : 'ASSISTANT',
          content: `message ${i + 1}`,
          status: 'COMPLETED',
          author_id: user ? ownerId : null,
          created_at: new Date(),
          completed_at: new Date(),
          parent_id: parent.id,
          active: true,
        } as never)
        .returningAll()
        .executeTakeFirstOrThrow();
      await database.db.updateTable('messages').set({ active_child_id: row.id }).where('id', '=', parent.id).execute();
      messages.push(row as MessageRow);
    }
    return { id, ownerId, messages };
  }

  /** Every page of a conversation's messages, walked with real cursors in one direction. */
  async function walk(conversationId: string, direction: 'forward' | 'backward', size: number): Promise<string[][]> {
    const pages: string[][] = [];
    let cursor: string | null = null;
    for (;;) {
      const args: PageArgs = direction === 'forward' ? { first: size, after: cursor } : { last: size, before: cursor };
      const window = pageWindow(args, 1, true);
      const connection = toConnection(await store.page(conversationId, window), window, messageCursor);
      pages.push(connection.edges.map((e) => e.node.content));
      const more = direction === 'forward' ? connection.pageInfo.hasNextPage : connection.pageInfo.hasPreviousPage;
      if (!more) return pages;
      cursor = direction === 'forward' ? connection.pageInfo.endCursor : connection.pageInfo.startCursor;
      if (pages.length > 50) throw new Error('pagination does not end');
    }
  }

  beforeAll(async () => {
    database = await open();
    store = new MessagesStore(database);
  }, 60_000);

  afterAll(async () => {
    await database?.close();
    if (engine === 'postgres') await dropSchema(TEST_DATABASE_URL, schema);
  });

  itMigratesIdempotently({ name: NAME, engine, config, migrations, current: () => database, tables: ['messages', 'conversation_owners'] });

  it('records a conversation start once: the greeting as a completed ASSISTANT message, and the owner', async () => {
    const conversationId = randomUUID();
    const ownerId = randomUUID();
    const greeting = await store.recordStart(conversationId, ownerId, 'Ahoy!');
    expect(greeting).toMatchObject({
      conversation_id: conversationId,
      role: 'ASSISTANT',
      content: 'Ahoy!',
      status: 'COMPLETED',
      author_id: null,
      finish_reason: 'greeting',
    });
    expect(greeting.completed_at).toBeInstanceOf(Date);

    // Again, even with other arguments: the first greeting and owner stay.
    const again = await store.recordStart(conversationId, randomUUID(), 'Something else');
    expect(again).toEqual(greeting);
    expect(await store.ownersOf([conversationId])).toEqual([expect.objectContaining({ conversation_id: conversationId, user_id: ownerId })]);
    expect(await store.countsOf([conversationId])).toEqual([{ conversation_id: conversationId, count: 1 }]);
  });

  it('records a start once even when two calls race', async () => {
    const conversationId = randomUUID();
    const [a, b] = await Promise.all([store.recordStart(conversationId, randomUUID(), 'one'), store.recordStart(conversationId, randomUUID(), 'two')]);
    expect(a.id).toBe(b.id);
    expect(await store.countsOf([conversationId])).toEqual([{ conversation_id: conversationId, count: 1 }]);
  });

  it('pages forward, oldest first', async () => {
    const { id } = await conversationWith(6);
    const pages = await walk(id, 'forward', 3);
    expect(pages).toEqual([
      ['Hello there.', 'message 1', 'message 2'],
      ['message 3', 'message 4', 'message 5'],
      ['message 6'],
    ]);
  });

  it('pages backward from the newest, each page still oldest first', async () => {
    const { id } = await conversationWith(6);
    const pages = await walk(id, 'backward', 3);
    expect(pages).toEqual([
      ['message 4', 'message 5', 'message 6'],
      ['message 1', 'message 2', 'message 3'],
      ['Hello there.'],
    ]);
  });

  it("reads only the conversation's own messages", async () => {
    const { id } = await conversationWith(2);
    await conversationWith(3);
    expect((await walk(id, 'forward', 100)).flat()).toEqual(['Hello there.', 'message 1', 'message 2']);
    expect(await walk(randomUUID(), 'forward', 10)).toEqual([[]]);
  });

  it('reads the last message and the count of many conversations in one query each', async () => {
    const one = await conversationWith(0);
    const three = await conversationWith(2);
    const five = await conversationWith(4);
    const ids = [one.id, three.id, five.id, randomUUID(), 'not-a-uuid'];

    let before = database.stats.queries;
    const last = await store.lastOf(ids);
    expect(database.stats.queries - before).toBe(1);
    expect(Object.fromEntries(last.map((m) => [m.conversation_id, m.content]))).toEqual({
      [one.id]: 'Hello there.',
      [three.id]: 'message 2',
      [five.id]: 'message 4',
    });

    before = database.stats.queries;
    const counts = await store.countsOf(ids);
    expect(database.stats.queries - before).toBe(1);
    expect(Object.fromEntries(counts.map((c) => [c.conversation_id, c.count]))).toEqual({ [one.id]: 1, [three.id]: 3, [five.id]: 5 });

    // Nothing valid to ask for: no query at all.
    before = database.stats.queries;
    expect(await store.lastOf(['not-a-uuid'])).toEqual([]);
    expect(await store.countsOf([])).toEqual([]);
    expect(await store.ownersOf(['nope'])).toEqual([]);
    expect(await store.byIds(['nope'])).toEqual([]);
    expect(database.stats.queries - before).toBe(0);
  });

  it('reads messages and owners by id', async () => {
    const a = await conversationWith(1);
    const b = await conversationWith(0);
    const wanted = [a.messages[1].id, b.messages[0].id];
    expect((await store.byIds([...wanted, randomUUID()])).map((m) => m.id).sort()).toEqual([...wanted].sort());
    const owners = await store.ownersOf([a.id, b.id]);
    expect(Object.fromEntries(owners.map((o) => [o.conversation_id, o.user_id]))).toEqual({ [a.id]: a.ownerId, [b.id]: b.ownerId });
  });
});
