/**
 * The chat-path benchmarks (issue #8): `tsx bench/chat/run.ts [--quick]`.
 *
 * Streaming latency and time to first token (streams.ts), idle subscriptions and their memory
 * (idle.ts), sendMessage throughput on the embedded defaults and on PostgreSQL + Redis
 * (send-rate.ts), and database queries per list request as pages grow (queries.ts). Prints a
 * markdown report, writes bench/results/chat.json, and exits non-zero when a benchmark failed (a
 * sendMessage error, a reply that did not complete, a subscription lost) or a query count grew
 * with the page. Everything runs on 127.0.0.1, bounded in time, and every child
 * process, socket and server is closed on the way out.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { SUBGRAPH_NAMES } from '@chat/shared/config';
import { startFakeLlm, type FakeLlmServer } from '../../test/support/fake-llm';
import { fmt, populate, table } from './common';
import { measureIdle, type IdleResult } from './idle';
import { PAGE_SIZES, type ListQueryCounts } from './queries';
import { measureSendRate, type SendRateResult } from './send-rate';
import { measureStreams, type StreamResult } from './streams';
import { startSystemUnderTest, stopAll, type SystemUnderTest } from './system';

const QUICK = process.argv.includes('--quick');

/** What each mode runs. */
const PLAN = QUICK
  ? {
      streamLevels: [1, 100],
      tokensPerReply: 20,
      idle: [{ subscriptions: 1000, perSocket: 1 }],
      idleHoldMs: 1_000,
      users: 10,
      sendWarmupMs: 500,
      sendWindowMs: 2_500,
      deadlineMs: 300_000,
    }
  : {
      streamLevels: [1, 100, 1000],
      tokensPerReply: 60,
      idle: [
        { subscriptions: 5000, perSocket: 1 },
        { subscriptions: 5000, perSocket: 20 },
      ],
      idleHoldMs: 15_000,
      users: 100,
      sendWarmupMs: 3_000,
      sendWindowMs: 15_000,
      deadlineMs: 1_500_000,
    };
/** The fake provider's pace: 10 tokens a second per reply, after a 200 ms first-token delay. */
const TOKEN_DELAY_MS = 100;
const FIRST_TOKEN_DELAY_MS = 200;
const SEND_CONCURRENCY = 16;

/** Limits raised so that only the machine limits the benchmark (1,000 streams, thousands of sockets, many sends a minute). */
const systemEnv = (fake: FakeLlmServer): Record<string, string> => ({
  LLM_PROVIDER: 'openai',
  LLM_BASE_URL: fake.baseUrl,
  RATE_LIMIT_MESSAGES_PER_MINUTE: '1000000',
  INITIAL_CREDITS: '1000000000',
  GENERATION_CONCURRENCY: '5000',
  WS_MAX_CONNECTIONS_PER_USER: '100000',
  WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: '1000',
  ACCESS_TOKEN_TTL_SECONDS: '7200',
  // Held tokens (streams.ts) wait for the slowest reply to start: no provider timeout may fire meanwhile.
  LLM_IDLE_TIMEOUT_MS: '600000',
  LLM_TOTAL_TIMEOUT_MS: '900000',
  LOG_LEVEL: 'error',
});

/** Runs one benchmark step; a failure is recorded in the report and the other steps still run. */
type Section = <T>(name: string, run: () => Promise<T>) => Promise<T | undefined>;

interface Report {
  mode: 'quick' | 'full';
  startedAt: string;
  machine: { cpus: number; node: string; loadAverageBefore: number[]; loadAverageAfter?: number[] };
  settings: typeof PLAN & { tokenDelayMs: number; firstTokenDelayMs: number; sendConcurrency: number; systemEnv: Record<string, string> };
  streams: StreamResult[];
  idle: IdleResult[];
  sendRate: Array<SendRateResult & { engine: string }>;
  queries: ListQueryCounts[];
  failures: string[];
  /** Wall time of each step (ms). */
  timings: Record<string, number>;
}

async function main(): Promise<Report> {
  // The systems are test/support/system.ts's, configured as under jest.
  process.env.NODE_ENV = 'test';
  const fake = await startFakeLlm();
  const env = systemEnv(fake);
  const report: Report = {
    mode: QUICK ? 'quick' : 'full',
    startedAt: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version, loadAverageBefore: loadavg() },
    settings: { ...PLAN, tokenDelayMs: TOKEN_DELAY_MS, firstTokenDelayMs: FIRST_TOKEN_DELAY_MS, sendConcurrency: SEND_CONCURRENCY, systemEnv: { ...env, LLM_BASE_URL: 'http://127.0.0.1:<fake>/v1' } },
    streams: [],
    idle: [],
    sendRate: [],
    queries: [],
    failures: [],
    timings: {},
  };
  const section: Section = async (name, run) => {
    const started = Date.now();
    try {
      return await run();
    } catch (error) {
      report.failures.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
      return undefined;
    } finally {
      report.timings[name] = Date.now() - started;
    }
  };
  try {
    // Start-up is slow (tsx, four databases each): both systems start at once, and while the embedded one is still
    // starting, the PostgreSQL one counts queries (a count is not a timing: load does not change it) and is populated.
    const serversReady = section('start PostgreSQL + Redis system', () =>
      startSystemUnderTest('postgres', { ...env, REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379' }),
    ).then(async (sut) => {
      if (!sut) return undefined;
      await section('queries per request', async () => void (report.queries = await sut.subgraphs.countQueries()));
      const population = await section('populate PostgreSQL + Redis system', () => populate(sut.gateway.gatewayUrl, { users: 4, conversations: SEND_CONCURRENCY * 2 }));
      return population && { sut, population };
    });
    const [embedded, servers] = await Promise.all([section('start embedded system', () => startSystemUnderTest('pglite', env)), serversReady]);
    if (embedded) await runEmbedded(embedded, fake, report, section);
    if (servers) {
      await section('sendMessage/s (PostgreSQL + Redis)', async () => {
        fake.setBehaviour({ tokens: ['ok', '.'], tokenDelayMs: 0, firstTokenDelayMs: 0, renderToken: undefined });
        const result = await measureSendRate({ gatewayUrl: servers.sut.gateway.gatewayUrl, population: servers.population, concurrency: SEND_CONCURRENCY, warmupMs: PLAN.sendWarmupMs, windowMs: PLAN.sendWindowMs });
        report.sendRate.push({ engine: 'PostgreSQL + Redis', ...result });
        expectNoErrors(result);
      });
      await servers.sut.stop();
    }
  } finally {
    await stopAll();
    await fake.close();
  }
  report.machine.loadAverageAfter = loadavg();
  return report;
}

/** On the embedded system: idle subscriptions (on the fresh gateway), streaming, sendMessage/s. */
async function runEmbedded(sut: SystemUnderTest, fake: FakeLlmServer, report: Report, section: Section) {
  const population = await section('populate embedded system', () =>
    populate(sut.gateway.gatewayUrl, { users: PLAN.users, conversations: Math.max(PLAN.users, ...PLAN.streamLevels, SEND_CONCURRENCY * 4) }),
  );
  if (population) {
    for (const [i, layout] of PLAN.idle.entries()) {
      await section(`idle ${layout.subscriptions}×${layout.perSocket}`, async () => {
        // A fresh gateway process for each layout: memory freed by the previous one stays in its RSS.
        if (i > 0) await sut.restartGateway();
        const result = await measureIdle({ gateway: sut.gateway, subgraphs: sut.subgraphs, fake, population, holdMs: PLAN.idleHoldMs, ...layout });
        report.idle.push(result);
        const lost = result.subscriptions - Math.min(result.aliveAtOpen, result.aliveAfterHold);
        if (lost > 0 || result.socketsClosed > 0 || result.subscriptionErrors > 0) {
          throw new Error(`${lost} subscriptions not alive, ${result.socketsClosed} sockets closed, ${result.subscriptionErrors} errors`);
        }
      });
    }
    for (const streams of PLAN.streamLevels) {
      await section(`streams ×${streams}`, async () => {
        const result = await measureStreams({
          gatewayUrl: sut.gateway.gatewayUrl,
          fake,
          population,
          streams,
          tokens: PLAN.tokensPerReply,
          tokenDelayMs: TOKEN_DELAY_MS,
          firstTokenDelayMs: FIRST_TOKEN_DELAY_MS,
          sendConcurrency: 32,
        });
        report.streams.push(result);
        if (result.failed > 0) throw new Error(`${result.failed} of ${result.streams} replies did not complete`);
      });
    }
    await section('sendMessage/s (embedded)', async () => {
      fake.setBehaviour({ tokens: ['ok', '.'], tokenDelayMs: 0, firstTokenDelayMs: 0, renderToken: undefined });
      const result = await measureSendRate({ gatewayUrl: sut.gateway.gatewayUrl, population, concurrency: SEND_CONCURRENCY, warmupMs: PLAN.sendWarmupMs, windowMs: PLAN.sendWindowMs });
      report.sendRate.push({ engine: 'PGlite + in-process bus', ...result });
      expectNoErrors(result);
    });
  }
  await sut.stop();
}

/** A benchmark's answers must all be right: errors fail the run (the figures are still reported). */
function expectNoErrors(result: SendRateResult): void {
  if (result.errors > 0) throw new Error(`${result.errors} sendMessage errors: ${JSON.stringify(result.errorCodes)}`);
}

/** The report as markdown. */
function markdown(r: Report): string {
  const kb = (bytes: number) => fmt(bytes / 1024, 1);
  const out = [
    `# Chat path benchmarks (${r.mode})`,
    '',
    `${r.startedAt}, Node ${r.machine.node}, ${r.machine.cpus} cores, load average before ${r.machine.loadAverageBefore.map((l) => l.toFixed(2)).join(' ')}, after ${r.machine.loadAverageAfter?.map((l) => l.toFixed(2)).join(' ')}.`,
    'Processes: the load generator and the fake OpenAI-compatible provider in this one; the four subgraphs (and an unused internal gateway) in a second; the gateway every client talks to in a third. ' +
      'The PostgreSQL + Redis system is a second such pair, started at the same time; its subgraphs process counts the database queries while the embedded system starts, then it idles until its turn.',
    '',
    `## Streaming: latency per delta and time to first token`,
    '',
    `Each stream is one conversation watched by one graphql-ws socket; the provider streams ${r.settings.tokensPerReply} tokens per reply, one every ${r.settings.tokenDelayMs} ms, after ${r.settings.firstTokenDelayMs} ms. ` +
      'Latency: provider write → client receipt, for tokens written while all N replies were streaming (tokens after the first are held until every reply has started). ' +
      'TTFT added: sendMessage response → first delta − the provider\'s first-token delay, while the N messages were being sent.',
    '',
    table(
      ['streams', 'deltas/s written (nominal)', 'completed', 'late joins', 'latency p50 ms', 'p99 ms', 'max ms', 'TTFT added p50 ms', 'p99 ms', 'sendMessage p50 ms', 'client loop p99 ms'],
      r.streams.map((s) => [
        s.streams,
        `${Math.round(s.writtenPerSecond)} (${Math.round((s.streams * 1000) / s.tokenDelayMs)})`,
        `${s.completed}/${s.streams}`,
        s.lateJoins,
        fmt(s.steadyLatencyMs.p50),
        fmt(s.steadyLatencyMs.p99),
        fmt(s.steadyLatencyMs.max),
        fmt(s.ttftAddedMs.p50),
        fmt(s.ttftAddedMs.p99),
        fmt(s.sendMs.p50, 0),
        fmt(s.clientLoopDelayP99Ms),
      ]),
    ),
    '',
    '## Idle subscriptions held by one gateway process',
    '',
    'Memory of the gateway process (restarted before each row after the first) after a full GC, before opening and after holding them idle; the subgraphs process holds the upstream ends (its heap only: its RSS keeps what earlier steps freed). ' +
      'Open: until every socket was acknowledged. Each subscription is checked alive by an event right after opening and again after the hold.',
    '',
    table(
      ['subscriptions', 'per socket', 'open s', 'alive at open', 'alive after hold', 'closed / errors', 'gateway RSS KiB/sub', 'gateway heap KiB/sub', 'subgraphs heap KiB/sub'],
      r.idle.map((i) => [
        i.subscriptions,
        i.perSocket,
        fmt(i.openMs / 1000),
        i.aliveAtOpen,
        `${i.aliveAfterHold} (after ${i.holdMs / 1000} s)`,
        `${i.socketsClosed} / ${i.subscriptionErrors}`,
        kb(i.gateway.bytesPerSubscription.rss),
        kb(i.gateway.bytesPerSubscription.heapUsed),
        kb(i.subgraphs.bytesPerSubscription.heapUsed),
      ]),
    ),
    '',
    '## sendMessage per second (stored and queued, reply not awaited)',
    '',
    table(
      ['engine', 'concurrency', 'window s', 'sends/s', 'ok', 'busy', 'errors', 'p50 ms', 'p99 ms'],
      r.sendRate.map((s) => [s.engine, s.concurrency, s.windowMs / 1000, fmt(s.perSecond), s.ok, s.busy, `${s.errors}${s.errors ? ` ${JSON.stringify(s.errorCodes)}` : ''}`, fmt(s.latencyMs.p50), fmt(s.latencyMs.p99)]),
    ),
    '',
    '## Database queries per list request, by page size',
    '',
    `Each cell: that subgraph's queries for one request with a page of ${PAGE_SIZES.join(', ')} items.`,
    '',
    table(
      ['list', ...SUBGRAPH_NAMES, 'flat'],
      r.queries.map((q) => [q.list, ...SUBGRAPH_NAMES.map((name) => q.queries[name].join(', ')), q.flat ? 'yes' : '**NO**']),
    ),
  ];
  out.push('', `Steps (s): ${Object.entries(r.timings).map(([name, ms]) => `${name} ${fmt(ms / 1000)}`).join('; ')}.`);
  if (r.failures.length) out.push('', '## Failures', '', ...r.failures.map((f) => `- ${f}`));
  return out.join('\n');
}

/** Ends everything this run started, then exits with `code`. */
async function exit(code: number): Promise<never> {
  await stopAll().catch(() => undefined);
  process.exit(code);
}

process.once('SIGINT', () => void exit(130));
process.once('SIGTERM', () => void exit(143));
setTimeout(() => {
  console.error(`benchmark did not finish within ${PLAN.deadlineMs / 1000} s`);
  void exit(2);
}, PLAN.deadlineMs).unref();

try {
  const report = await main();
  const output = fileURLToPath(new URL('../results/chat.json', import.meta.url));
  mkdirSync(fileURLToPath(new URL('../results/', import.meta.url)), { recursive: true });
  writeFileSync(output, `${JSON.stringify(report, null, 2)}\n`);
  console.log(markdown(report));
  console.log(`\nWritten: ${output}`);
  const notFlat = report.queries.filter((q) => !q.flat).map((q) => q.list);
  if (notFlat.length) console.error(`Query counts grew with the page size: ${notFlat.join(', ')}`);
  await exit(report.failures.length || notFlat.length ? 1 : 0);
} catch (error) {
  console.error(error);
  await exit(1);
}
