/**
 * Replay by cursor (replay.ts, resume.ts), on both buses: the in-memory buffer, and the stream per
 * conversation on a real Redis. Cursors ordered within a conversation, what is kept after one,
 * trimming by age and count (both must hold), an expired cursor, an unknown one, and a replay
 * compacted (a reply that ended is its terminal event).
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createMemoryEventBus, createRedisEventBus, type ConversationEvent, type EventBus } from './events';
import { compareCursors, createMemoryReplayLog, nextCursor } from './replay';
import { compactReplay, inCursorOrder, newerThan } from './resume';

const REDIS_URL = process.env.TEST_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

const created = (id: string): ConversationEvent => ({ kind: 'MESSAGE_CREATED', messageId: id, message: null });
const delta = (id: string, text: string, sequence: number): ConversationEvent => ({ kind: 'REPLY_DELTA', messageId: id, delta: text, sequence });
const completed = (id: string): ConversationEvent => ({ kind: 'REPLY_COMPLETED', messageId: id, message: null });

describe('cursors', () => {
  it('are ordered as Redis orders its stream ids', () => {
    expect(nextCursor(undefined, 1000)).toBe('1000-0');
    expect(nextCursor('1000-0', 1000)).toBe('1000-1');
    expect(nextCursor('1000-7', 999)).toBe('1000-8');
    expect(nextCursor('1000-7', 1001)).toBe('1001-0');
    expect(compareCursors('1000-9', '1000-10')).toBeLessThan(0);
    expect(compareCursors('999-10', '1000-0')).toBeLessThan(0);
    expect(compareCursors('1000-1', '1000-1')).toBe(0);
  });

  it('replays a reply that ended as its terminal event, and passes each live event once, in order', () => {
    const events = [created('u1'), delta('r1', 'a', 0), delta('r2', 'x', 0), delta('r1', 'b', 1), completed('r1')].map((e, i) => ({ ...e, cursor: `5-${i}` }));
    expect(compactReplay(events).map((e) => `${e.kind}:${e.messageId}`)).toEqual(['MESSAGE_CREATED:u1', 'REPLY_DELTA:r2', 'REPLY_COMPLETED:r1']);
    const isNew = newerThan('5-2');
    expect(events.filter(isNew).map((e) => e.cursor)).toEqual(['5-3', '5-4']);
    expect(events.filter(isNew)).toEqual([]);
    expect(inCursorOrder([events[3]!, events[0]!, events[1]!]).map((e) => e.cursor)).toEqual(['5-0', '5-1', '5-3']);
  });
});

describe('the in-memory replay buffer', () => {
  it('keeps an event while it is recent OR among the last ones, and says when a cursor is older than what is kept', () => {
    let now = 1_000;
    const log = createMemoryReplayLog<ConversationEvent>({ keepMs: 100, keepEvents: 2 }, () => now);
    const cursors = [0, 1, 2, 3].map((i) => log.append('c', created(`m${i}`)).cursor);
    expect(new Set(cursors).size).toBe(4);
    // All recent: all kept, whatever their count.
    expect(log.read('c', cursors[0]!)).toEqual({ events: [1, 2, 3].map((i) => expect.objectContaining({ messageId: `m${i}`, cursor: cursors[i] })) });
    now += 500;
    const last = log.append('c', created('m4')).cursor;
    // Old and beyond the last two: gone. m3 (old, but one of the last two) stays.
    expect(log.read('c', cursors[0]!)).toBe('expired');
    expect(log.read('c', cursors[1]!)).toBe('expired');
    expect(log.read('c', cursors[2]!)).toEqual({ events: [expect.objectContaining({ messageId: 'm3' }), expect.objectContaining({ messageId: 'm4' })] });
    expect(log.read('c', last)).toEqual({ events: [] });
    expect(log.read('c', `${now + 10}-0`)).toBe('unknown');
    expect(log.read('other', last)).toBe('expired');
  });
});

describe.each(['memory', 'redis'] as const)('replay on the %s bus', (kind) => {
  const prefix = `t_replay_${randomBytes(4).toString('hex')}:`;
  const connections: Redis[] = [];
  const bus = (keepMs: number, keepEvents: number): EventBus => {
    if (kind === 'memory') return createMemoryEventBus({ keepMs, keepEvents });
    const publisher = new Redis(REDIS_URL);
    const subscriber = new Redis(REDIS_URL);
    connections.push(publisher, subscriber);
    return createRedisEventBus(publisher, subscriber, prefix, undefined, { keepMs, keepEvents });
  };
  afterAll(async () => {
    if (connections[0]) {
      const keys = await connections[0].keys(`${prefix}*`);
      if (keys.length > 0) await connections[0].del(...keys);
    }
    await Promise.all(connections.map((c) => c.quit()));
  });

  it('gives every event a cursor in publishing order, and replays what came after one', async () => {
    const events = bus(60_000, 1_000);
    const heard: ConversationEvent[] = [];
    const stop = await events.listen('c1', (event) => heard.push(event));
    await events.publish('c1', created('u1'));
    await events.publish('c1', delta('r1', 'Hel', 0));
    await events.publish('c1', delta('r1', 'lo', 1));
    await events.publish('c1', completed('r1'));
    const deadline = Date.now() + 5_000;
    while (heard.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    stop();
    const cursors = heard.map((e) => e.cursor!);
    expect(cursors.every((c, i) => i === 0 || compareCursors(cursors[i - 1]!, c) < 0)).toBe(true);
    // Progress carries the cursor of its last piece.
    expect((await events.progress('c1'))[0]).toMatchObject({ replyId: 'r1', text: 'Hello', cursor: cursors[2] });
    const kept = await events.replay('c1', cursors[0]!);
    expect(kept).toEqual({ events: heard.slice(1).map((e) => expect.objectContaining({ kind: e.kind, messageId: e.messageId, cursor: e.cursor })) });
    expect(await events.replay('c1', cursors[3]!)).toEqual({ events: [] });
    expect(await events.replay('c1', `${Date.now() + 60_000}-0`)).toBe('unknown');
    expect(await events.replay('never-published', cursors[0]!)).toBe('expired');
    await events.close();
  });

  it('trims events both older than kept and beyond the last ones, and answers an older cursor as expired', async () => {
    const events = bus(0, 3);
    const cursors: string[] = [];
    const stop = await events.listen('c2', (event) => cursors.push(event.cursor!));
    for (let i = 0; i < 6; i++) {
      await events.publish('c2', created(`m${i}`));
      // keepMs 0: only the last three are kept, once a millisecond has passed.
      await new Promise((r) => setTimeout(r, 2));
    }
    const deadline = Date.now() + 5_000;
    while (cursors.length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    stop();
    expect(await events.replay('c2', cursors[0]!)).toBe('expired');
    expect(await events.replay('c2', cursors[1]!)).toBe('expired');
    expect(await events.replay('c2', cursors[2]!)).toEqual({ events: [3, 4, 5].map((i) => expect.objectContaining({ messageId: `m${i}` })) });
    await events.close();
  });
});
