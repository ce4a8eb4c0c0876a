import type { Backplane } from '@chat/shared/backplane';
import type { Redis } from '@chat/shared/redis';
import { contextFrom, SpanKind, type Tracer } from '@chat/shared/tracing';
import type { MessageRow } from '../store';
import { createMemoryReplayLog, DEFAULT_REPLAY_RETENTION, REDIS_APPEND, REDIS_READ, REPLAY_IDLE_TTL_MS, replayFromRedis, type Replay, type ReplayRetention } from './replay';

/** The kinds of event a conversation's subscribers receive (the contract's ConversationEventKind). */
export type ConversationEventKind =
  | 'MESSAGE_CREATED'
  | 'REPLY_DELTA'
  | 'REPLY_COMPLETED'
  | 'REPLY_FAILED'
  | 'REPLY_CANCELLED'
  | 'MESSAGE_UPDATED'
  | 'ACTIVE_PATH_CHANGED'
  | typeof CONVERSATION_CLOSED;

/**
 * Internal, never sent to a client: the conversation was deleted, so every open subscription to it
 * ends (chat/subscribe.ts), on whichever instance it is open.
 */
export const CONVERSATION_CLOSED = 'CONVERSATION_CLOSED';

/** Kinds that end a reply: exactly one of them closes every reply. */
export const TERMINAL_KINDS: ReadonlySet<ConversationEventKind> = new Set(['REPLY_COMPLETED', 'REPLY_FAILED', 'REPLY_CANCELLED']);

/** One event of a conversation, as published and as the subscription resolves it. */
export interface ConversationEvent {
  kind: ConversationEventKind;
  messageId: string;
  delta?: string | null;
  sequence?: number | null;
  message?: MessageRow | null;
  error?: string | null;
  /** The publisher's trace context (W3C headers) on events that start or end something; deltas carry none. */
  trace?: Record<string, string>;
  /** Its place in the conversation (replay.ts), given when it is published. */
  cursor?: string;
}

/** The text so far of a reply still streaming, for subscribers joining late. */
export interface ReplyProgress {
  replyId: string;
  text: string;
  /** Sequence of the last piece of `text`. */
  sequence: number;
  /** Cursor of the event that brought the last piece of `text` (or started it over). */
  cursor?: string;
  /**
   * The reply ended moments ago. Kept for RECENTLY_ENDED_MS so a subscriber that joined while its
   * last events were in flight still gets the text it missed.
   */
  ended?: boolean;
}

/** How long an ended reply's progress is kept for subscribers joining at that moment (ms). */
export const RECENTLY_ENDED_MS = 10_000;

/**
 * The progress a reply starts from when an event announces it streaming again (a continued reply's
 * MESSAGE_UPDATED): its text so far, before any new piece (sequence -1). Late subscribers get that
 * text with the new pieces; undefined for every other event.
 */
export function progressSeed(event: ConversationEvent): ReplyProgress | undefined {
  if (event.kind !== 'MESSAGE_UPDATED' || event.message?.status !== 'STREAMING') return undefined;
  return { replyId: event.messageId, text: event.message.content, sequence: -1 };
}

/**
 * Publishes a conversation's events to its subscribers, wherever they are connected, and
 * keeps the text so far of each streaming reply (updated with each delta, in the same step).
 */
export interface EventBus {
  publish(conversationId: string, event: ConversationEvent): Promise<void>;
  /**
   * Calls `listener` for each event of the conversation until the returned function is called;
   * `onLost` when events may have been missed (the bus lost its connection): the listener is then dropped.
   */
  listen(conversationId: string, listener: (event: ConversationEvent) => void, onLost?: (error: Error) => void): Promise<() => void>;
  /** Replies of the conversation streaming now, with their text so far. */
  progress(conversationId: string): Promise<ReplyProgress[]>;
  /** The conversation's events kept after cursor `after` (replay.ts), or why they cannot be trusted. */
  replay(conversationId: string, after: string): Promise<Replay<ConversationEvent>>;
  /** Drops everything kept of these conversations (replay and progress): their user's data is being erased. */
  forget(conversationIds: readonly string[]): Promise<void>;
  /** Asks whichever instance generates the reply to stop it. */
  requestCancel(replyId: string): Promise<void>;
  /** Calls `handler` for every cancel request, from any instance. */
  onCancelRequest(handler: (replyId: string) => void): void;
  close(): Promise<void>;
}

/** The bus of the backplane's kind: on Redis (subscribing on its `events` connection), or in this process. */
export function createEventBus(backplane: Backplane<'events'>, tracer: Tracer, retention: ReplayRetention = DEFAULT_REPLAY_RETENTION): EventBus {
  return backplane.kind === 'redis'
    ? createRedisEventBus(backplane.redis, backplane.connections.events, backplane.prefix, tracer, retention)
    : createMemoryEventBus(retention);
}

/** An in-process bus: every subscriber lives in this process (no REDIS_URL); events kept for replay in a bounded buffer. */
export function createMemoryEventBus(retention: ReplayRetention = DEFAULT_REPLAY_RETENTION): EventBus {
  const log = createMemoryReplayLog<ConversationEvent>(retention);
  const listeners = new Map<string, Set<(event: ConversationEvent) => void>>();
  const streaming = new Map<string, Map<string, ReplyProgress>>();
  const cancelHandlers: Array<(replyId: string) => void> = [];
  return {
    async requestCancel(replyId) {
      for (const handler of cancelHandlers) handler(replyId);
    },
    onCancelRequest(handler) {
      cancelHandlers.push(handler);
    },
    async publish(conversationId, published) {
      const event = log.append(conversationId, published);
      const replies = streaming.get(conversationId) ?? new Map<string, ReplyProgress>();
      const seed = progressSeed(event);
      if (seed) {
        replies.set(seed.replyId, { ...seed, cursor: event.cursor });
        streaming.set(conversationId, replies);
      } else if (event.kind === 'REPLY_DELTA') {
        const before = replies.get(event.messageId);
        replies.set(event.messageId, { replyId: event.messageId, text: (before?.text ?? '') + (event.delta ?? ''), sequence: event.sequence ?? 0, cursor: event.cursor });
        streaming.set(conversationId, replies);
      } else if (TERMINAL_KINDS.has(event.kind)) {
        const ended = replies.get(event.messageId);
        if (ended) {
          ended.ended = true;
          setTimeout(() => {
            // Unless the reply streams again meanwhile (a continuation starts its progress over).
            if (replies.get(event.messageId) === ended) replies.delete(event.messageId);
            if (replies.size === 0 && streaming.get(conversationId) === replies) streaming.delete(conversationId);
          }, RECENTLY_ENDED_MS).unref();
        }
      }
      for (const listener of listeners.get(conversationId) ?? []) listener(event);
    },
    async listen(conversationId, listener) {
      const set = listeners.get(conversationId) ?? new Set();
      set.add(listener);
      listeners.set(conversationId, set);
      return () => {
        set.delete(listener);
        if (set.size === 0) listeners.delete(conversationId);
      };
    },
    async progress(conversationId) {
      return [...(streaming.get(conversationId)?.values() ?? [])];
    },
    async replay(conversationId, after) {
      return log.read(conversationId, after);
    },
    async forget(conversationIds) {
      for (const id of conversationIds) {
        log.forget(id);
        streaming.delete(id);
      }
    },
    async close() {
      listeners.clear();
      streaming.clear();
    },
  };
}

/** How long a streaming reply's progress outlives its last delta in Redis (s): a crashed writer's leftovers expire. */
export const PROGRESS_TTL_SECONDS = 600;

// Each script first keeps the event in the conversation's replay stream (REDIS_APPEND: its last two
// KEYS and last four ARGV), which gives `cursor` and `payload` (the event with its cursor) to publish.

// Marks the reply's progress as ended (kept briefly for late joiners) and publishes the final event.
const PUBLISH_END = `${REDIS_APPEND}
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local progress = cjson.decode(current)
  progress.ended = true
  progress.endedAt = tonumber(ARGV[2])
  redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(progress))
end
return redis.call('PUBLISH', KEYS[2], payload)`;

// Starts a reply's progress over from its text so far (a continuation) and publishes the event.
const PUBLISH_SEED = `${REDIS_APPEND}
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode({ text = ARGV[2], sequence = -1, cursor = cursor }))
redis.call('EXPIRE', KEYS[1], ARGV[3])
return redis.call('PUBLISH', KEYS[2], payload)`;

// Appends a delta to the reply's progress and publishes the event, atomically: a subscriber
// reading progress after subscribing sees each delta either in the progress or on the channel.
const PUBLISH_DELTA = `${REDIS_APPEND}
local current = redis.call('HGET', KEYS[1], ARGV[1])
local text = ''
if current then text = cjson.decode(current).text end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode({ text = text .. ARGV[2], sequence = tonumber(ARGV[3]), cursor = cursor }))
redis.call('EXPIRE', KEYS[1], ARGV[4])
return redis.call('PUBLISH', KEYS[2], payload)`;

// Any other event: kept, then published.
const PUBLISH_EVENT = `${REDIS_APPEND}
return redis.call('PUBLISH', KEYS[1], payload)`;

/** A bus on Redis pub/sub: events reach subscribers on every instance. */
export function createRedisEventBus(publisher: Redis, subscriber: Redis, prefix = 'chat:', tracer?: Tracer, retention: ReplayRetention = DEFAULT_REPLAY_RETENTION): EventBus {
  const channel = (conversationId: string) => `${prefix}events:${conversationId}`;
  const progressKey = (conversationId: string) => `${prefix}progress:${conversationId}`;
  // The conversation's replay stream and its trim mark (replay.ts).
  const logKeys = (conversationId: string) => [`${prefix}replay:${conversationId}`, `${prefix}replay-trimmed:${conversationId}`];
  const appendArgs = (payload: string) => [payload, retention.keepMs, retention.keepEvents, REPLAY_IDLE_TTL_MS];
  const listeners = new Map<string, Set<(event: ConversationEvent) => void>>();
  const losers = new Map<(event: ConversationEvent) => void, (error: Error) => void>();
  const cancelChannel = `${prefix}cancel-requests`;
  const cancelHandlers: Array<(replyId: string) => void> = [];
  subscriber.on('message', (name: string, payload: string) => {
    if (name === cancelChannel) {
      for (const handler of cancelHandlers) handler(payload);
      return;
    }
    const conversationId = name.slice(channel('').length);
    const set = listeners.get(conversationId);
    if (!set) return;
    const event = JSON.parse(payload) as ConversationEvent;
    // The hop through Redis shows in the publisher's trace.
    if (event.trace && tracer) tracer.startSpan(`event ${event.kind} received`, { kind: SpanKind.CONSUMER }, contextFrom(event.trace)).end();
    for (const listener of set) listener(event);
  });
  // Events published while the connection is down are gone: tell every listener, so clients resubscribe and catch up.
  subscriber.on('close', () => {
    const lost = [...losers.values()];
    listeners.clear();
    losers.clear();
    void subscriber.unsubscribe().catch(() => undefined);
    for (const onLost of lost) onLost(new Error('The connection to Redis was lost.'));
  });
  // Cancel requests reach every instance (ioredis subscribes again after a reconnection).
  subscriber.on('ready', () => void subscriber.subscribe(cancelChannel).catch(() => undefined));
  return {
    async requestCancel(replyId) {
      await publisher.publish(cancelChannel, replyId);
    },
    onCancelRequest(handler) {
      cancelHandlers.push(handler);
      void subscriber.subscribe(cancelChannel).catch(() => undefined);
    },
    async publish(conversationId, event) {
      const payload = JSON.stringify(event);
      const seed = progressSeed(event);
      const keys = [progressKey(conversationId), channel(conversationId), ...logKeys(conversationId)];
      if (seed) {
        await publisher.eval(PUBLISH_SEED, 4, ...keys, seed.replyId, seed.text, PROGRESS_TTL_SECONDS, ...appendArgs(payload));
      } else if (event.kind === 'REPLY_DELTA') {
        await publisher.eval(PUBLISH_DELTA, 4, ...keys, event.messageId, event.delta ?? '', event.sequence ?? 0, PROGRESS_TTL_SECONDS, ...appendArgs(payload));
      } else if (TERMINAL_KINDS.has(event.kind)) {
        await publisher.eval(PUBLISH_END, 4, ...keys, event.messageId, Date.now(), ...appendArgs(payload));
      } else {
        await publisher.eval(PUBLISH_EVENT, 3, channel(conversationId), ...logKeys(conversationId), ...appendArgs(payload));
      }
    },
    async listen(conversationId, listener, onLost) {
      let set = listeners.get(conversationId);
      if (!set) {
        set = new Set();
        listeners.set(conversationId, set);
        await subscriber.subscribe(channel(conversationId));
      }
      set.add(listener);
      if (onLost) losers.set(listener, onLost);
      const own = set;
      return () => {
        own.delete(listener);
        losers.delete(listener);
        if (own.size === 0 && listeners.get(conversationId) === own) {
          listeners.delete(conversationId);
          void subscriber.unsubscribe(channel(conversationId)).catch(() => undefined);
        }
      };
    },
    async progress(conversationId) {
      const entries = await publisher.hgetall(progressKey(conversationId));
      const all = Object.entries(entries).map(([replyId, json]) => ({ replyId, ...(JSON.parse(json) as { text: string; sequence: number; ended?: boolean; endedAt?: number; cursor?: string }) }));
      const stale = all.filter((p) => p.ended && Date.now() - (p.endedAt ?? 0) > RECENTLY_ENDED_MS);
      if (stale.length > 0) await publisher.hdel(progressKey(conversationId), ...stale.map((p) => p.replyId));
      return all.filter((p) => !stale.includes(p)).map(({ replyId, text, sequence, ended, cursor }) => ({ replyId, text, sequence, ended, cursor }));
    },
    async replay(conversationId, after) {
      const answer = (await publisher.eval(REDIS_READ, 2, ...logKeys(conversationId), after)) as [string | null, string | null, Array<[string, string[]]>];
      return replayFromRedis<ConversationEvent>(answer, after);
    },
    async forget(conversationIds) {
      const keys = conversationIds.flatMap((id) => [progressKey(id), ...logKeys(id)]);
      if (keys.length > 0) await publisher.del(...keys);
    },
    async close() {
      listeners.clear();
    },
  };
}
