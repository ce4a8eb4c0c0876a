import { hostname } from 'node:os';
import type { Backplane } from '@chat/shared/backplane';
import type { Logger } from '@chat/shared/log';
import type { Redis } from '@chat/shared/redis';
import type { GenerationJob } from './job';

/** Runs one job; `delivery` counts how often it was handed out (1 the first time). Resolving acknowledges it. */
export type JobHandler = (job: GenerationJob, delivery: number) => Promise<void>;

/** Delivers generation jobs to workers: in-process, or through a Redis Stream shared by every instance. */
export interface JobQueue {
  enqueue(job: GenerationJob): Promise<void>;
  /** Starts handing jobs to `handler`, at most `concurrency` at a time. */
  consume(handler: JobHandler, concurrency: number): void;
  /** Jobs waiting to start, and jobs started but not yet acknowledged. */
  depth(): Promise<{ waiting: number; pending: number }>;
  /** The newest jobs that failed every delivery (an admin's view); always empty in process. */
  deadLetters(limit: number): Promise<DeadLetter[]>;
  /**
   * Removes the user's jobs kept after they ran (and their dead letters), for an erased account; a
   * job still running finds its reply gone. Returns how many went.
   */
  forgetUser(userId: string): Promise<number>;
  /** Stops taking jobs and waits for the running ones; a Redis job not acknowledged stays pending for another worker. */
  close(): Promise<void>;
}

/** Stream entries read at a time when looking for an erased user's jobs. */
const FORGET_PAGE = 500;

/** A job given up on after STREAM.maxDeliveries. */
export interface DeadLetter {
  job: GenerationJob;
  deliveries: number;
  failedAt: Date;
}

/** The queue of the backplane's kind: a Redis Stream (read on its `jobs` connection, which blocks), or in this process. */
export function createJobQueue(backplane: Backplane<'jobs'>, options: Omit<RedisQueueOptions, 'prefix'>): JobQueue {
  return backplane.kind === 'redis' ? createRedisQueue(backplane.redis, backplane.connections.jobs, { ...options, prefix: backplane.prefix }) : createMemoryQueue();
}

/** An in-process queue (no REDIS_URL): jobs live and die with this process. */
export function createMemoryQueue(): JobQueue {
  const waiting: GenerationJob[] = [];
  const running = new Set<Promise<void>>();
  let handler: JobHandler | undefined;
  let limit = 1;
  let closed = false;
  const pump = () => {
    while (handler && !closed && running.size < limit && waiting.length > 0) {
      const run = handler(waiting.shift()!, 1).catch(() => undefined);
      running.add(run);
      void run.finally(() => {
        running.delete(run);
        pump();
      });
    }
  };
  return {
    async enqueue(job) {
      if (closed) throw new Error('The generation queue is closed.');
      waiting.push(job);
      pump();
    },
    consume(work, concurrency) {
      handler = work;
      limit = concurrency;
      pump();
    },
    async depth() {
      return { waiting: waiting.length, pending: running.size };
    },
    async deadLetters() {
      return [];
    },
    async forgetUser(userId) {
      const before = waiting.length;
      waiting.splice(0, waiting.length, ...waiting.filter((job) => job.userId !== userId));
      return before - waiting.length;
    },
    async close() {
      // Jobs already queued here have nowhere else to go: finish them too.
      while (waiting.length > 0 || running.size > 0) {
        pump();
        await Promise.allSettled([...running]);
      }
      closed = true;
    },
  };
}

/** Redis Stream names (after the deployment's prefix) and limits of the shared queue. */
export const STREAM = {
  jobs: 'generation-jobs',
  deadLetters: 'generation-jobs:dead',
  group: 'generators',
  /** Deliveries after which a job goes to the dead-letter stream instead of being tried again. */
  maxDeliveries: 3,
  /** How long one read blocks waiting for new jobs. */
  blockMs: 1_000,
  /** Jobs older than this are trimmed as new ones are added: by then each was done or dead-lettered. */
  jobRetentionMs: 60 * 60_000,
  /** Dead letters older than this are trimmed as new ones are added (an admin's week to look). */
  deadLetterRetentionMs: 7 * 24 * 60 * 60_000,
} as const;

/** The oldest stream id kept when entries older than `retentionMs` go (XADD … MINID ~). */
const keptFrom = (retentionMs: number) => `${Date.now() - retentionMs}-0`;

/** Timings of a Redis queue; tests shorten them. */
export interface RedisQueueOptions {
  /** Prefix of the stream keys (the deployment's REDIS_KEY_PREFIX). */
  prefix: string;
  /** A job not acknowledged for this long is taken over by another worker (its worker is presumed dead). */
  claimIdleMs: number;
  /** Called for a job that failed every delivery, after it is moved to the dead-letter stream. */
  onDeadLetter(job: GenerationJob, deliveries: number): Promise<void>;
  log: Logger;
  /** How long jobs and dead letters are kept (default STREAM's); tests shorten them. */
  retention?: { jobsMs: number; deadLettersMs: number };
}

type StreamEntry = [id: string, fields: string[]];

/**
 * A queue on a Redis Stream with a consumer group: each job goes to one worker; a worker that
 * dies leaves it pending, and another claims it once it has been idle for `claimIdleMs`. Workers
 * renew the jobs they run, so a long reply is never taken from a live worker.
 */
export function createRedisQueue(redis: Redis, reader: Redis, options: RedisQueueOptions): JobQueue {
  const jobs = `${options.prefix}${STREAM.jobs}`;
  const deadLetters = `${options.prefix}${STREAM.deadLetters}`;
  const consumer = `${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const retention = options.retention ?? { jobsMs: STREAM.jobRetentionMs, deadLettersMs: STREAM.deadLetterRetentionMs };
  const running = new Map<string, Promise<void>>();
  let closed = false;
  let loop: Promise<void> | undefined;
  let groupReady: Promise<unknown> | undefined;
  const ensureGroup = () =>
    (groupReady ??= redis.xgroup('CREATE', jobs, STREAM.group, '0', 'MKSTREAM').catch((error: Error) => {
      if (!String(error.message).includes('BUSYGROUP')) throw error;
    }));

  const jobOf = (fields: string[]) => JSON.parse(fields[fields.indexOf('job') + 1]) as GenerationJob;

  const run = (id: string, job: GenerationJob, delivery: number, handler: JobHandler) => {
    const task = handler(job, delivery)
      .then(() => redis.xack(jobs, STREAM.group, id))
      .catch((err) => options.log.error({ err, replyId: job.replyId }, 'generation job failed; it stays pending for a retry'))
      .finally(() => running.delete(id));
    running.set(id, task.then(() => undefined));
  };

  const deadLetter = async (id: string, job: GenerationJob, deliveries: number) => {
    await redis.xadd(deadLetters, 'MINID', '~', keptFrom(retention.deadLettersMs), '*', 'job', JSON.stringify(job), 'deliveries', String(deliveries), 'failedAt', new Date().toISOString());
    await options.onDeadLetter(job, deliveries).catch((err) => options.log.error({ err }, 'ending a dead-lettered reply failed'));
    await redis.xack(jobs, STREAM.group, id);
  };

  /** Takes over jobs idle too long (their worker died), or dead-letters those tried too often. */
  const claimAbandoned = async (handler: JobHandler, room: number) => {
    if (room <= 0) return;
    const [, entries] = (await redis.xautoclaim(jobs, STREAM.group, consumer, options.claimIdleMs, '0-0', 'COUNT', room)) as [string, StreamEntry[]];
    for (const [id, fields] of entries) {
      if (!fields) continue;
      const [info] = (await redis.xpending(jobs, STREAM.group, id, id, 1)) as Array<[string, string, number, number]>;
      const deliveries = Number(info?.[3] ?? 1);
      const job = jobOf(fields);
      if (deliveries > STREAM.maxDeliveries) await deadLetter(id, job, deliveries);
      else run(id, job, deliveries, handler);
    }
  };

  /** Keeps the jobs running here fresh, so nobody takes them over. */
  const renew = async () => {
    if (running.size === 0) return;
    await redis.xclaim(jobs, STREAM.group, consumer, 0, ...running.keys(), 'JUSTID');
  };

  /** Deletes the stream's entries whose job is the user's, a page at a time. */
  const forgetIn = async (stream: string, userId: string) => {
    let removed = 0;
    let start = '-';
    for (;;) {
      const page = (await redis.xrange(stream, start, '+', 'COUNT', FORGET_PAGE)) as StreamEntry[];
      const theirs = page.filter(([, fields]) => fields && jobOf(fields).userId === userId).map(([id]) => id);
      if (theirs.length > 0) removed += await redis.xdel(stream, ...theirs);
      if (page.length < FORGET_PAGE) return removed;
      start = `(${page.at(-1)![0]}`;
    }
  };

  return {
    forgetUser: async (userId) => (await forgetIn(jobs, userId)) + (await forgetIn(deadLetters, userId)),
    async enqueue(job) {
      if (closed) throw new Error('The generation queue is closed.');
      await ensureGroup();
      await redis.xadd(jobs, 'MINID', '~', keptFrom(retention.jobsMs), '*', 'job', JSON.stringify(job));
    },
    consume(handler, concurrency) {
      loop = (async () => {
        await ensureGroup();
        let lastSweep = 0;
        while (!closed) {
          try {
            if (Date.now() - lastSweep >= options.claimIdleMs / 3) {
              lastSweep = Date.now();
              await renew();
              await claimAbandoned(handler, concurrency - running.size);
            }
            const room = concurrency - running.size;
            if (room <= 0) {
              await Promise.race([...running.values(), new Promise((r) => setTimeout(r, STREAM.blockMs))]);
              continue;
            }
            const read = (await reader.xreadgroup('GROUP', STREAM.group, consumer, 'COUNT', room, 'BLOCK', STREAM.blockMs, 'STREAMS', jobs, '>')) as
              | Array<[string, StreamEntry[]]>
              | null;
            for (const [, entries] of read ?? []) for (const [id, fields] of entries) run(id, jobOf(fields), 1, handler);
          } catch (err) {
            if (closed) break;
            options.log.warn({ err }, 'reading generation jobs failed; retrying');
            await new Promise((r) => setTimeout(r, 500));
          }
        }
      })();
    },
    async depth() {
      await ensureGroup();
      const groups = (await redis.xinfo('GROUPS', jobs)) as Array<Array<string | number>>;
      const group = groups.map((g) => Object.fromEntries(chunk(g))).find((g) => g.name === STREAM.group);
      return { waiting: Number(group?.lag ?? 0), pending: Number(group?.pending ?? 0) };
    },
    async deadLetters(limit) {
      const entries = (await redis.xrevrange(deadLetters, '+', '-', 'COUNT', limit)) as StreamEntry[];
      return entries.map(([, fields]) => {
        const field = (name: string) => fields[fields.indexOf(name) + 1];
        return { job: JSON.parse(field('job')) as GenerationJob, deliveries: Number(field('deliveries')), failedAt: new Date(field('failedAt')) };
      });
    },
    async close() {
      closed = true;
      await loop;
      await Promise.allSettled([...running.values()]);
    },
  };
}

function chunk(flat: Array<string | number>): Array<[string, string | number]> {
  const pairs: Array<[string, string | number]> = [];
  for (let i = 0; i < flat.length; i += 2) pairs.push([String(flat[i]), flat[i + 1]]);
  return pairs;
}
