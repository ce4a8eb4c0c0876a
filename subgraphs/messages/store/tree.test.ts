/** The conversation tree in the store, on both engines: the active path's marks through sends, alternatives, switches, deletion and forks. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { openDatabase, type Database } from '@chat/shared/db';
import { pageWindow } from '@chat/shared/pagination';
import { dropSchema } from '../../../test/support/postgres';
import { storageFor, type Engine } from '../../../test/support/stores';
import { TEST_DATABASE_URL } from '../../../test/support/system';
import { MessagesStore, migrations, PathConflict, type MessageRow, type MessagesTables, type ReplyHold } from './index';

const NAME = 'messages';

describe.each<Engine>(['pglite', 'postgres'])('the conversation tree on %s', (engine) => {
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

  const hold = (creditsHeld = 100): ReplyHold => {
    const replyId = randomUUID();
    return { replyId, holdKey: replyId, creditsHeld };
  };
  const user = (content: string, authorId = randomUUID()) => ({ authorId, content, moderationFlags: [] });
  /** The active path's texts, oldest first. */
  const path = async (conversationId: string) => (await store.page(conversationId, pageWindow({ first: 100 }, ['integer'], true))).map((m) => m.content);
  /** A reply ends with this text. */
  const complete = async (reply: MessageRow, content: string) => (await store.finish(reply.id, { status: 'COMPLETED', content }, 0))!;
  /** A started conversation (greeting and two alternate greetings) with `exchanges` completed exchanges. */
  async function chat(exchanges: number) {
    const id = randomUUID();
    const ownerId = randomUUID();
    const greeting = await store.recordStart(id, ownerId, 'Hello.', ['Hi!', 'Greetings.']);
    const sent: Array<{ message: MessageRow; reply: MessageRow }> = [];
    for (let i = 1; i <= exchanges; i += 1) {
      const exchange = await store.createExchange({ conversationId: id, clientMessageId: null, hold: hold(), ...user(`u${i}`, ownerId) });
      sent.push({ message: exchange.message, reply: await complete(exchange.reply, `r${i}`) });
    }
    return { id, ownerId, greeting, sent };
  }

  it('starts with the greeting on the path and the alternate greetings as its inactive alternatives', async () => {
    const { id, greeting } = await chat(0);
    expect(await path(id)).toEqual(['Hello.']);
    const roots = await store.tree.siblings([`root:${id}`]);
    expect(roots.map((m) => [m.content, m.active, m.parent_id])).toEqual([
      ['Hello.', true, null],
      ['Hi!', false, null],
      ['Greetings.', false, null],
    ]);
    // Selecting another greeting changes the opening.
    const change = await store.tree.select(roots[2]);
    expect(change.last?.content).toBe('Greetings.');
    expect(await path(id)).toEqual(['Greetings.']);
    await store.tree.select(greeting);
    expect(await path(id)).toEqual(['Hello.']);
  });

  it('sends below the path end; refuses another write while a reply is open', async () => {
    const { id, ownerId, sent } = await chat(1);
    const exchange = await store.createExchange({ conversationId: id, clientMessageId: 'c-1', hold: hold(), ...user('u2', ownerId) });
    expect(exchange.message.parent_id).toBe(sent[0].reply.id);
    expect(exchange.reply).toMatchObject({ parent_id: exchange.message.id, status: 'PENDING', active: true });
    await expect(store.createExchange({ conversationId: id, clientMessageId: null, hold: hold(), ...user('u3', ownerId) })).rejects.toBeInstanceOf(PathConflict);
    // The same clientMessageId answers the earlier exchange, open reply or not.
    const again = await store.createExchange({ conversationId: id, clientMessageId: 'c-1', hold: hold(), ...user('u2', ownerId) });
    expect(again).toMatchObject({ earlier: true, message: { id: exchange.message.id }, reply: { id: exchange.reply.id } });
    await expect(store.addReplyAlternative(exchange.reply, hold())).rejects.toBeInstanceOf(PathConflict);
    await complete(exchange.reply, 'r2');
    expect(await path(id)).toEqual(['Hello.', 'u1', 'r1', 'u2', 'r2']);
  });

  it('regenerates a middle reply as an alternative; selecting the old one restores the path below it', async () => {
    const { id, sent } = await chat(2);
    const [first] = sent;
    const { reply, last } = await store.addReplyAlternative(first.reply, hold());
    expect(last.id).toBe(reply.id);
    expect(reply.parent_id).toBe(first.message.id);
    await complete(reply, 'r1 again');
    expect(await path(id)).toEqual(['Hello.', 'u1', 'r1 again']);
    expect((await store.tree.siblings([first.message.id])).map((m) => [m.content, m.active])).toEqual([
      ['r1', false],
      ['r1 again', true],
    ]);
    expect((await store.history(reply.parent_id)).map((m) => m.content)).toEqual(['Hello.', 'u1']);
    const back = await store.tree.select(first.reply);
    expect(back.last?.content).toBe('r2');
    expect(await path(id)).toEqual(['Hello.', 'u1', 'r1', 'u2', 'r2']);
    // And to the new one again: its (empty) remembered path.
    await store.tree.select(reply);
    expect(await path(id)).toEqual(['Hello.', 'u1', 'r1 again']);
    // A reply off the path cannot be regenerated.
    await expect(store.addReplyAlternative(first.reply, hold())).rejects.toBeInstanceOf(PathConflict);
  });

  it("edits a user message as an alternative with its own reply, the original's branch kept", async () => {
    const { id, ownerId, sent } = await chat(2);
    const edit = await store.addUserEdit(sent[0].message, user('u1 edited', ownerId), hold());
    expect(edit.message.parent_id).toBe(sent[0].message.parent_id);
    expect(edit.reply.parent_id).toBe(edit.message.id);
    await complete(edit.reply, 'r1 for the edit');
    expect(await path(id)).toEqual(['Hello.', 'u1 edited', 'r1 for the edit']);
    await store.tree.select(sent[0].message);
    expect(await path(id)).toEqual(['Hello.', 'u1', 'r1', 'u2', 'r2']);
    // A reply's edit is COMPLETED at once, nothing generated.
    const fixed = await store.addReplyEdit(sent[1].reply, 'r2, better');
    expect(fixed.message).toMatchObject({ role: 'ASSISTANT', status: 'COMPLETED', parent_id: sent[1].message.id, hold_key: null });
    expect(await path(id)).toEqual(['Hello.', 'u1', 'r1', 'u2', 'r2, better']);
  });

  it('soft-deletes a message and what is below it, moves the path, and restores them together', async () => {
    const { id, sent } = await chat(2);
    // Without alternatives: the path ends at the parent.
    const removed = await store.tree.remove(sent[1].message);
    expect(removed.message.deleted_at).toBeInstanceOf(Date);
    expect(removed.last?.content).toBe('r1');
    expect(await path(id)).toEqual(['Hello.', 'u1', 'r1']);
    expect((await store.byId(sent[1].reply.id))!.deleted_at).toEqual(removed.message.deleted_at);
    expect((await store.tree.page(id, pageWindow({ first: 100 }, ['integer']), false)).map((m) => m.content)).not.toContain('u2');
    expect((await store.tree.page(id, pageWindow({ first: 100 }, ['integer']), true)).map((m) => m.content)).toContain('u2');
    const restored = await store.tree.restore(sent[1].message);
    expect(restored.message.deleted_at).toBeNull();
    expect(restored.last?.content).toBe('r2');
    expect(await path(id)).toEqual(['Hello.', 'u1', 'r1', 'u2', 'r2']);

    // With an alternative: the path moves to it, and back through the restored one.
    const alternative = await store.addReplyAlternative(sent[1].reply, hold());
    await complete(alternative.reply, 'r2 again');
    await store.tree.select(sent[1].reply);
    const moved = await store.tree.remove(sent[1].reply);
    expect(moved.last?.content).toBe('r2 again');
    expect(await path(id)).toEqual(['Hello.', 'u1', 'r1', 'u2', 'r2 again']);
    // A child of a deleted message cannot come back on its own.
    const removedAbove = await store.tree.remove(sent[1].message);
    await expect(store.tree.restore((await store.byId(alternative.reply.id))!)).rejects.toBeInstanceOf(PathConflict);
    await store.tree.restore(removedAbove.message);
    // What was deleted earlier, on its own, stays deleted.
    expect(await path(id)).toEqual(['Hello.', 'u1', 'r1', 'u2', 'r2 again']);
    expect((await store.byId(sent[1].reply.id))!.deleted_at).not.toBeNull();
  });

  it('continues the path end: STREAMING again with its text, costs and usage adding up, one settlement per hold', async () => {
    const { id, sent } = await chat(1);
    const reply = sent[0].reply;
    await expect(store.startContinuation(sent[0].message, hold())).rejects.toBeInstanceOf(PathConflict);
    // Already ended: nothing changes.
    expect(await store.finish(reply.id, { status: 'COMPLETED' })).toBeUndefined();
    const more = { replyId: reply.id, holdKey: `${reply.id}:continue:1`, creditsHeld: 50 };
    const reopened = await store.startContinuation(reply, more);
    expect(reopened).toMatchObject({ status: 'STREAMING', content: 'r1', continued_from: 2, hold_key: more.holdKey, completed_at: null });
    await expect(store.createExchange({ conversationId: id, clientMessageId: null, hold: hold(), ...user('u2') })).rejects.toBeInstanceOf(PathConflict);
    const ended = await store.finish(reply.id, { status: 'COMPLETED', content: 'r1 and more', prompt_tokens: 10, completion_tokens: 3, total_tokens: 13 }, 80);
    expect(ended).toMatchObject({ content: 'r1 and more', credits: 50, prompt_tokens: 10, total_tokens: 13 });
    const again = await store.startContinuation(ended!, { replyId: reply.id, holdKey: `${reply.id}:continue:2`, creditsHeld: 50 });
    const twice = await store.finish(again.id, { status: 'COMPLETED', content: 'r1 and more, and more', prompt_tokens: 12, completion_tokens: 2, total_tokens: 14 }, 14);
    expect(twice).toMatchObject({ credits: 64, prompt_tokens: 22, completion_tokens: 5, total_tokens: 27 });
    const due = await store.dueSettlements(1000);
    // The first generation settled under its own key; each continuation under its own.
    expect(due.filter((s) => s.reply_id === reply.id).map((s) => [s.hold_key, s.used]).sort()).toEqual([
      [reply.id, 0],
      [`${reply.id}:continue:1`, 50],
      [`${reply.id}:continue:2`, 14],
    ]);
  });

  it('of ten concurrent regenerations of one reply, exactly one is stored', async () => {
    const { id, sent } = await chat(1);
    const outcomes = await Promise.allSettled(Array.from({ length: 10 }, () => store.addReplyAlternative(sent[0].reply, hold())));
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    expect(outcomes.filter((o) => o.status === 'rejected' && o.reason instanceof PathConflict)).toHaveLength(9);
    expect(await store.tree.siblings([sent[0].message.id])).toHaveLength(2);
    expect((await path(id)).length).toBe(3);
  });

  it('copies a path into a fork, in order, as its active path', async () => {
    const { id, sent, ownerId } = await chat(3);
    const forkId = randomUUID();
    const copies = await store.tree.copyPath(sent[1].reply.id, forkId, ownerId);
    expect(copies.map((m) => m.content)).toEqual(['Hello.', 'u1', 'r1', 'u2', 'r2']);
    expect(copies.every((m, i) => m.parent_id === (copies[i - 1]?.id ?? null) && m.active_child_id === (copies[i + 1]?.id ?? null) && m.active)).toBe(true);
    expect(copies.every((m) => m.credits === null && m.hold_key === null && m.conversation_id === forkId)).toBe(true);
    expect(await path(forkId)).toEqual(['Hello.', 'u1', 'r1', 'u2', 'r2']);
    expect(await store.ownersOf([forkId])).toEqual([expect.objectContaining({ user_id: ownerId })]);
    expect((await path(id)).length).toBe(7);
    await store.tree.dropCopy(forkId);
    expect(await path(forkId)).toEqual([]);
  });
});
