/** The concatenation rule for one subscriber, whenever it joins: new replies, and continued ones. */
import { describe, expect, it } from '@jest/globals';
import { CatchUp } from './catch-up';
import type { ConversationEvent, ReplyProgress } from './events';

const delta = (text: string, sequence: number): ConversationEvent => ({ kind: 'REPLY_DELTA', messageId: 'r', delta: text, sequence });
const completed: ConversationEvent = { kind: 'REPLY_COMPLETED', messageId: 'r' };
const updated: ConversationEvent = { kind: 'MESSAGE_UPDATED', messageId: 'r' };
/** The text a subscriber assembles: a MESSAGE_UPDATED's text (when it saw one) followed by every delta. */
const text = (events: ConversationEvent[], updatedText = 'Old text.') =>
  events.map((e) => (e.kind === 'MESSAGE_UPDATED' ? updatedText : e.kind === 'REPLY_DELTA' ? e.delta : '')).join('');
/** Joins with `progress` and `early`, then receives `live`: everything the subscriber gets. */
function join(progress: ReplyProgress[], early: ConversationEvent[], live: ConversationEvent[]): ConversationEvent[] {
  const catchUp = new CatchUp();
  return [...catchUp.start(progress, early), ...[...early, ...live].flatMap((event) => catchUp.pass(event))];
}

describe('CatchUp', () => {
  it('a new reply: the text so far as one delta, then the pieces after it, duplicates dropped', () => {
    const got = join([{ replyId: 'r', text: 'ab', sequence: 1 }], [delta('b', 1)], [delta('c', 2), completed]);
    expect(got).toEqual([delta('ab', 1), delta('c', 2), completed]);
  });

  it('a continued reply joined before its first new piece: the text so far comes with that piece', () => {
    const got = join([{ replyId: 'r', text: 'Old text.', sequence: -1 }], [], [delta(' New', 0), delta(' more.', 1), completed]);
    expect(got).toEqual([delta('Old text. New', 0), delta(' more.', 1), completed]);
    expect(text(got)).toBe('Old text. New more.');
  });

  it('a continued reply joined after some new pieces: the whole text so far as one delta', () => {
    const got = join([{ replyId: 'r', text: 'Old text. New', sequence: 0 }], [], [delta(' more.', 1), completed]);
    expect(text(got)).toBe('Old text. New more.');
  });

  it('a continuation that ends with nothing new: its text so far still comes, before the end', () => {
    const got = join([{ replyId: 'r', text: 'Old text.', sequence: -1 }], [], [completed]);
    expect(got).toEqual([delta('Old text.', 0), completed]);
  });

  it('a continuation that started after the subscriber listened: MESSAGE_UPDATED, then only the new text', () => {
    const got = join([{ replyId: 'r', text: 'Old text. New', sequence: 0 }], [updated, delta(' New', 0)], [delta(' more.', 1), completed]);
    expect(got).toEqual([updated, delta(' New', 0), delta(' more.', 1), completed]);
    expect(text(got)).toBe('Old text. New more.');
  });

  it('a reply caught up, then continued: the continuation numbers from 0 again and nothing of it is dropped', () => {
    const catchUp = new CatchUp();
    const got = [
      ...catchUp.start([{ replyId: 'r', text: 'abc', sequence: 2 }], []),
      ...[completed, updated, delta('d', 0), delta('e', 1), completed].flatMap((event) => catchUp.pass(event)),
    ];
    expect(got).toEqual([delta('abc', 2), completed, updated, delta('d', 0), delta('e', 1), completed]);
  });

  it('a reply that ended before the subscriber joined is history', () => {
    expect(join([{ replyId: 'r', text: 'ab', sequence: 1, ended: true }], [], [])).toEqual([]);
  });
});
