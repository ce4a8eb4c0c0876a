/** The generation queue on a real Redis: dead letters after repeated failures, and the in-process queue's order. */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { createLogger } from '@chat/shared/log';
import type { GenerationJob } from './job';
import { createMemoryQueue, createRedisQueue, STREAM } from './queue';

const REDIS_URL = process.env.TEST_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const log = createLogger({ logLevel: 'silent' }, 'queue-test');

function job(): GenerationJob {
  return {
    replyId: randomUUID(),
    conversationId: randomUUID(),
    userId: randomUUID(),
    settings: { model: 'm', temperature: 0.5, maxTokens: 10, contextWindowTokens: 1000 },
    character: { name: 'Test' },
  };
}

describe('Redis generation queue', () => {
  const prefix = `t_queue_${randomBytes(4).toString('hex')}:`;
  const connections = [new Redis(REDIS_URL), new Redis(REDIS_URL), new Redis(REDIS_URL), new Redis(REDIS_URL)];
  afterAll(async () => {
    const keys = await connections[0].keys(`${prefix}*`);
    if (keys.length > 0) await connections[0].del(...keys);
    await Promise.all(connections.map((c) => c.quit()));
  });

  it('hands a job that keeps failing to the dead-letter stream after the last delivery, once', async () => {
    const deliveries: number[] = [];
    const dead: Array<{ job: GenerationJob; deliveries: number }> = [];
    const queue = createRedisQueue(connections[0], connections[1], {
      prefix,
      claimIdleMs: 150,
      log,
      onDeadLetter: async (failed, count) => {
        dead.push({ job: failed, deliveries: count });
      },
    });
    queue.consume(async (_job, delivery) => {
      deliveries.push(delivery);
      throw new Error('worker crashed');
    }, 2);
    const failing = job();
    await queue.enqueue(failing);
    const deadline = Date.now() + 20_000;
    while (dead.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await queue.close();
    expect(deliveries).toEqual([1, 2, 3]);
    expect(dead).toEqual([{ job: failing, deliveries: STREAM.maxDeliveries + 1 }]);
    const letters = await queue.deadLetters(10);
    expect(letters.map((l) => l.job.replyId)).toEqual([failing.replyId]);
    expect(letters[0].failedAt).toBeInstanceOf(Date);
    expect((await queue.depth()).pending).toBe(0);
  }, 30_000);

  it('trims jobs older than their retention as new ones arrive (dead letters are trimmed the same way)', async () => {
    const trimmed = `${prefix}trim:`;
    const queue = createRedisQueue(connections[0], connections[1], {
      prefix: trimmed,
      claimIdleMs: 5_000,
      log,
      onDeadLetter: async () => undefined,
      retention: { jobsMs: 0, deadLettersMs: 0 },
    });
    // An entry from long ago, as a stream that ran for months holds.
    await connections[0].xadd(`${trimmed}${STREAM.jobs}`, '1-0', 'job', '{}');
    for (let i = 0; i < 200; i += 1) await queue.enqueue(job());
    // MINID ~ trims whole macro nodes: the old entry goes once a node's worth of newer ones exist.
    const oldest = async (key: string) => ((await connections[0].xrange(key, '-', '+', 'COUNT', 1)) as Array<[string, string[]]>)[0]?.[0];
    expect(await oldest(`${trimmed}${STREAM.jobs}`)).not.toBe('1-0');
    await queue.close();
  });

  it('delivers each job once to one of several consumers, and acknowledges it', async () => {
    const seen: string[] = [];
    // Two workers, each with its own blocking connection, as two instances would have.
    const queues = [2, 3].map((reader) =>
      createRedisQueue(connections[0], connections[reader], { prefix: `${prefix}b:`, claimIdleMs: 5_000, log, onDeadLetter: async () => undefined }),
    );
    for (const queue of queues) {
      queue.consume(async (j) => {
        seen.push(j.replyId);
      }, 4);
    }
    const jobs = Array.from({ length: 10 }, job);
    for (const j of jobs) await queues[1].enqueue(j);
    const deadline = Date.now() + 10_000;
    while (seen.length < jobs.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await Promise.all(queues.map((q) => q.close()));
    expect([...seen].sort()).toEqual(jobs.map((j) => j.replyId).sort());
    expect((await queues[0].depth()).pending).toBe(0);
  });
});

describe('in-process generation queue', () => {
  it('runs jobs in order with bounded concurrency and finishes queued ones on close', async () => {
    const queue = createMemoryQueue();
    let running = 0;
    let peak = 0;
    const done: string[] = [];
    queue.consume(async (j) => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 20));
      running -= 1;
      done.push(j.replyId);
    }, 2);
    const jobs = Array.from({ length: 6 }, job);
    for (const j of jobs) await queue.enqueue(j);
    await queue.close();
    expect(done).toHaveLength(6);
    expect(peak).toBe(2);
    expect(new Set(done)).toEqual(new Set(jobs.map((j) => j.replyId)));
    await expect(queue.enqueue(job())).rejects.toThrow('closed');
  });
});
