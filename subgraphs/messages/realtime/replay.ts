/**
 * Replay by cursor: every conversation event gets a cursor, ordered within its conversation, and
 * the events are kept for a while (at least `keepMs` or the last `keepEvents`) so that a client
 * that lost its stream gets what it missed. Cursors are Redis stream ids (`<ms>-<seq>`): with
 * Redis they are the entry ids of a stream per conversation; alone, a bounded buffer in memory
 * numbers them the same way.
 */

/** What this module needs of an event: its cursor once numbered. */
export interface Cursored {
  cursor?: string | null;
}

/** How long and how many of a conversation's events are kept for replay. */
export interface ReplayRetention {
  /** Events this recent are kept (ms). */
  keepMs: number;
  /** The last this many events are kept, however old. */
  keepEvents: number;
}

/** The contract's retention: the last 10 minutes or the last 1,000 events. */
export const DEFAULT_REPLAY_RETENTION: ReplayRetention = { keepMs: 10 * 60_000, keepEvents: 1_000 };

/** How long a conversation's kept events outlive its last event (ms): longer than `keepMs` always. */
export const REPLAY_IDLE_TTL_MS = 60 * 60_000;

/** In memory: at most this many events kept per conversation, however recent (a bound on the process's memory). */
export const MEMORY_REPLAY_MAX_EVENTS = 10_000;

/** In memory: at most this many conversations' events kept (the least recently written go first). */
export const MEMORY_REPLAY_MAX_CONVERSATIONS = 2_000;

/** What a replay found after a cursor: the events kept since, or why there are none to trust. */
export type Replay<E> = { events: E[] } | 'expired' | 'unknown';

/** A cursor as its two numbers. */
export type CursorParts = readonly [ms: number, seq: number];

/** The two numbers of a cursor, or undefined when it is not one. */
export function parseCursor(cursor: string): CursorParts | undefined {
  const match = /^(\d{1,15})-(\d{1,15})$/.exec(cursor);
  return match ? [Number(match[1]), Number(match[2])] : undefined;
}

/** Orders two cursors of one conversation: negative when `a` came first. */
export function compareCursors(a: string, b: string): number {
  const [am, as] = parseCursor(a) ?? [0, 0];
  const [bm, bs] = parseCursor(b) ?? [0, 0];
  return am - bm || as - bs;
}

/** The cursor after `last` at time `now` (ms), as Redis numbers its stream entries. */
export function nextCursor(last: string | undefined, now: number): string {
  const [ms, seq] = (last && parseCursor(last)) || [-1, 0];
  return now > ms ? `${now}-0` : `${ms}-${seq + 1}`;
}

/** One conversation's kept events, in memory. */
interface MemoryLog<E> {
  entries: E[];
  /** The newest cursor dropped from `entries`: a cursor before it may have missed events. */
  trimmedThrough?: string;
  /** The newest cursor given. */
  last?: string;
}

/** Events kept for replay in this process (no Redis): bounded per conversation and in conversations. */
export interface MemoryReplayLog<E extends Cursored> {
  /** Numbers `event` with the conversation's next cursor and keeps it; returns it with its cursor. */
  append(conversationId: string, event: E): E & { cursor: string };
  /** The events kept after `after`. */
  read(conversationId: string, after: string): Replay<E>;
  /** Drops what is kept of the conversation (its user's data is being erased). */
  forget(conversationId: string): void;
}

/** A replay log in memory, kept as `retention` says. */
export function createMemoryReplayLog<E extends Cursored>(retention: ReplayRetention, now: () => number = Date.now): MemoryReplayLog<E> {
  const logs = new Map<string, MemoryLog<E>>();
  const trim = (log: MemoryLog<E>, at: number) => {
    const cutoff = at - retention.keepMs;
    const olderThanKept = (i: number) => i < log.entries.length - retention.keepEvents && parseCursor(log.entries[i]!.cursor ?? '')![0] < cutoff;
    let drop = 0;
    while (olderThanKept(drop) || log.entries.length - drop > MEMORY_REPLAY_MAX_EVENTS) drop++;
    if (drop === 0) return;
    log.trimmedThrough = log.entries[drop - 1]!.cursor ?? undefined;
    log.entries.splice(0, drop);
  };
  return {
    append(conversationId, event) {
      const at = now();
      const log: MemoryLog<E> = logs.get(conversationId) ?? { entries: [] };
      // Most recently written last: the first in the map is the one to forget.
      logs.delete(conversationId);
      logs.set(conversationId, log);
      if (logs.size > MEMORY_REPLAY_MAX_CONVERSATIONS) logs.delete(logs.keys().next().value!);
      const numbered = { ...event, cursor: nextCursor(log.last, at) };
      log.last = numbered.cursor;
      log.entries.push(numbered);
      trim(log, at);
      return numbered;
    },
    forget(conversationId) {
      logs.delete(conversationId);
    },
    read(conversationId, after) {
      const log = logs.get(conversationId);
      // Nothing kept (forgotten, or this process started after the cursor was given): what came since is unknown.
      if (!log?.last) return 'expired';
      if (compareCursors(after, log.last) > 0) return 'unknown';
      if (log.trimmedThrough !== undefined && compareCursors(after, log.trimmedThrough) < 0) return 'expired';
      return { events: log.entries.filter((e) => compareCursors(e.cursor!, after) > 0) };
    },
  };
}

/**
 * Lua run by every Redis publish before it publishes. Its last two KEYS are the conversation's
 * stream and its trim mark, its last four ARGV the event's JSON, keepMs, keepEvents and the idle
 * TTL (ms). It XADDs the event, trims the entries both older than keepMs and beyond the last
 * keepEvents (marking the newest id trimmed), and leaves in `payload` the event's JSON with its
 * cursor, and in `cursor` the cursor, for the script to publish.
 */
export const REDIS_APPEND = `
local logKey, markKey = KEYS[#KEYS - 1], KEYS[#KEYS]
local argc = #ARGV
local eventJson, keepMs, keepEvents, ttl = ARGV[argc - 3], tonumber(ARGV[argc - 2]), tonumber(ARGV[argc - 1]), tonumber(ARGV[argc])
local cursor = redis.call('XADD', logKey, '*', 'e', eventJson)
local function msOf(entryId) return tonumber(string.match(entryId, '^(%d+)')) end
local len = redis.call('XLEN', logKey)
if len > keepEvents then
  local cutoff = msOf(cursor) - keepMs
  local oldest = redis.call('XRANGE', logKey, '-', '+', 'COUNT', 1)[1]
  if oldest and msOf(oldest[1]) < cutoff then
    local batch = redis.call('XRANGE', logKey, '-', '+', 'COUNT', math.min(len - keepEvents, 500))
    local newestTrimmed = nil
    for _, entry in ipairs(batch) do
      if msOf(entry[1]) < cutoff then newestTrimmed = entry[1] else break end
    end
    if newestTrimmed then
      local ms, seq = string.match(newestTrimmed, '^(%d+)-(%d+)$')
      redis.call('XTRIM', logKey, 'MINID', ms .. '-' .. (tonumber(seq) + 1))
      redis.call('SET', markKey, newestTrimmed, 'PX', ttl)
    end
  end
end
redis.call('PEXPIRE', logKey, ttl)
if redis.call('EXISTS', markKey) == 1 then redis.call('PEXPIRE', markKey, ttl) end
local payload = '{"cursor":"' .. cursor .. '",' .. string.sub(eventJson, 2)
`;

/** Reads what is kept after ARGV[1] (KEYS: the stream, its trim mark): { last id or false, trim mark or false, entries }. */
export const REDIS_READ = `
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
if not last then return { false, false, {} } end
return { last[1], redis.call('GET', KEYS[2]), redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+') }`;

/** Interprets REDIS_READ's answer for cursor `after`. */
export function replayFromRedis<E extends Cursored>(answer: [string | null, string | null, Array<[string, string[]]>], after: string): Replay<E> {
  const [last, trimmedThrough, entries] = answer;
  if (!last) return 'expired';
  if (compareCursors(after, last) > 0) return 'unknown';
  if (trimmedThrough && compareCursors(after, trimmedThrough) < 0) return 'expired';
  return { events: entries.map(([id, fields]) => ({ ...(JSON.parse(fields[fields.indexOf('e') + 1]!) as E), cursor: id })) };
}
