/**
 * One subscriber's view of the replies streaming when it joined: what it is sent first, and how the
 * live events that follow are passed on, so that for every reply the deltas it receives, in order,
 * concatenate to the reply's text (after a continued reply's MESSAGE_UPDATED text, when it saw that).
 */
import { TERMINAL_KINDS, type ConversationEvent, type ReplyProgress } from './events';

/** A REPLY_DELTA event, at `cursor` (that of the last event its text covers). */
const delta = (messageId: string, text: string, sequence: number, cursor: string | undefined): ConversationEvent => ({
  kind: 'REPLY_DELTA',
  messageId,
  delta: text,
  sequence,
  ...(cursor === undefined ? {} : { cursor }),
});

/** The catch-up of one subscription. */
export class CatchUp {
  /** Per reply: the sequence of the last piece the subscriber has; live deltas up to it are duplicates. */
  private readonly caughtUp = new Map<string, number>();
  /** Per continued reply with no new piece yet: its text so far, sent together with the first new piece. */
  private readonly prefixes = new Map<string, string>();

  /**
   * What to send first, for the replies streaming now (`progress`); `early` holds the live events
   * that arrived since the subscriber started listening (they are passed on after these).
   */
  start(progress: readonly ReplyProgress[], early: readonly ConversationEvent[]): ConversationEvent[] {
    const first: ConversationEvent[] = [];
    for (const reply of progress) {
      const live = early.filter((event) => event.messageId === reply.replyId);
      // A reply that ended before this subscriber joined is history, unless its last events reached us.
      if (reply.ended && live.length === 0) continue;
      // A continuation that started after we listened: its MESSAGE_UPDATED and every new piece reach us live.
      if (live.some((event) => event.kind === 'MESSAGE_UPDATED')) continue;
      this.caughtUp.set(reply.replyId, reply.sequence);
      if (reply.sequence < 0) this.prefixes.set(reply.replyId, reply.text);
      else first.push(delta(reply.replyId, reply.text, reply.sequence, reply.cursor));
    }
    return first;
  }

  /** A live event as this subscriber gets it: nothing (a delta it has), the event, or the event with the text so far first. */
  pass(event: ConversationEvent): ConversationEvent[] {
    const id = event.messageId;
    if (event.kind === 'REPLY_DELTA') {
      if ((this.caughtUp.get(id) ?? -1) >= (event.sequence ?? 0)) return [];
      const prefix = this.prefixes.get(id);
      if (prefix === undefined) return [event];
      this.prefixes.delete(id);
      return [{ ...event, delta: prefix + (event.delta ?? '') }];
    }
    if (event.kind !== 'MESSAGE_UPDATED' && !TERMINAL_KINDS.has(event.kind)) return [event];
    // The reply ended, or streams again from a new start (numbered from 0): what this subscriber had no longer counts.
    const prefix = this.prefixes.get(id);
    this.caughtUp.delete(id);
    this.prefixes.delete(id);
    // Ended before any new piece: the text so far still comes first, as one delta.
    return prefix !== undefined && TERMINAL_KINDS.has(event.kind) ? [delta(id, prefix, 0, event.cursor), event] : [event];
  }
}
