/**
 * The gateway throughput benchmark (the graphql-hive/graphql-gateways-benchmark scenario):
 * our gateway, stock @apollo/gateway and @graphql-hive/gateway, each on one core, against the same
 * Node subgraphs, loaded with the scenario's TestQuery by autocannon. See BENCHMARKS.md.
 *
 *   tsx bench/gateway/run.ts [--quick | --levers] [--rounds N] [--duration S] [--warmup S] [--gateways ours,stock,hive,hive-jit]
 *
 * Full run (default): 3 rounds of 5 s warm-up + 45 s per gateway, all four gateways (hive-jit is
 * @graphql-hive/gateway with --jit). Quick: 1 round of 3 s + 12 s, ours/stock/hive (about a minute).
 * Levers: 3 rounds of 4 s + 20 s of stock and of ours with levers of gateway/src/datasource.ts
 * switched off one by one (LEVER_VARIANTS), written to bench/results/gateway-levers.json.
 *
 * Core 0 runs the gateway under test (one at a time, a fresh process per gateway per round, in an
 * order rotated each round); core 1 runs the subgraphs and this process (the load generator).
 * Every response is compared with the answer computed from data.json (expected.ts). Writes
 * bench/results/gateway.json (gateway-levers.json with --levers) and prints a markdown table.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import { freePort } from '../../test/support/ports';
import { fmt as fixed, nearestRank } from '../stats';
import { autocannon, HIVE_GATEWAY_BIN, toolVersion } from '../tools';
import { STATS_PATH, benchSupergraph, checkComposition, type SubgraphStats } from './subgraphs';
import { expectedTestQueryResult, testQuery } from './expected';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const RESULTS_DIR = resolve(ROOT, 'bench/results');
const HOST = '127.0.0.1';
/** Concurrent connections, as in the published benchmark (50 virtual users). */
export const CONNECTIONS = 50;
/** The core the gateway under test runs on, and the one for everything else. */
export const GATEWAY_CORE = '0';
export const LOAD_CORE = '1';
/** Seconds a gateway (or the subgraphs) may take to start answering. */
const STARTUP_TIMEOUT_S = 60;
/** Seconds autocannon waits for one response before counting a timeout (k6's default, which the published benchmark uses). */
const REQUEST_TIMEOUT_S = 60;

/** Our gateway with levers switched off (bench/gateway/gateways/ours.ts, BENCH_LEVERS_OFF), in the order they were added. */
export const LEVER_VARIANTS = {
  'ours-plain': { off: ['fetcher', 'dedupe', 'sharing'], label: "ours with @apollo/gateway's data source" },
  'ours-fetcher': { off: ['dedupe', 'sharing'], label: '+ keep-alive node:http fetcher' },
  'ours-dedupe': { off: ['sharing'], label: '+ one representation per entity' },
  ours: { off: [], label: '+ identical in-flight queries shared (= ours)' },
  'ours-sharing': { off: ['dedupe'], label: '(sharing without deduplicated representations)' },
} as const;

type GatewayName = 'stock' | 'hive' | 'hive-jit' | keyof typeof LEVER_VARIANTS;
const ALL_GATEWAYS: readonly GatewayName[] = ['stock', 'hive', 'hive-jit', ...(Object.keys(LEVER_VARIANTS) as (keyof typeof LEVER_VARIANTS)[])];

interface Settings {
  quick: boolean;
  levers: boolean;
  rounds: number;
  warmupSeconds: number;
  durationSeconds: number;
  gateways: GatewayName[];
}

function parseSettings(argv: string[]): Settings {
  const value = (name: string) => {
    const index = argv.indexOf(`--${name}`);
    return index >= 0 ? argv[index + 1] : undefined;
  };
  const quick = argv.includes('--quick');
  const levers = argv.includes('--levers');
  if (quick && levers) throw new Error('--quick and --levers do not go together');
  // Hive Gateway with --jit too in a full run; the quick run keeps to the three defaults.
  const defaults = levers ? ['stock', ...Object.keys(LEVER_VARIANTS)].join(',') : quick ? 'ours,stock,hive' : 'ours,stock,hive,hive-jit';
  const gateways = (value('gateways') ?? defaults).split(',') as GatewayName[];
  for (const name of gateways) if (!ALL_GATEWAYS.includes(name)) throw new Error(`unknown gateway "${name}"`);
  return {
    quick,
    levers,
    rounds: Number(value('rounds') ?? (quick ? 1 : 3)),
    warmupSeconds: Number(value('warmup') ?? (quick ? 3 : levers ? 4 : 5)),
    durationSeconds: Number(value('duration') ?? (quick ? 12 : levers ? 20 : 45)),
    gateways,
  };
}

// ---------------------------------------------------------------------------------------------
// Child processes: tracked, and all killed on exit, error or signal.

const children = new Set<ChildProcess>();

function killAll(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
}
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping`);
    killAll();
    process.exit(130);
  });
}

/** A started child process and the tail of its output (for error messages). */
interface Child {
  process: ChildProcess;
  pid: number;
  output(): string;
  stop(): Promise<void>;
}

function start(command: string, args: string[], env: NodeJS.ProcessEnv): Child {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-8_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  return {
    process: child,
    pid: child.pid ?? -1,
    output: () => tail,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      children.delete(child);
    },
  };
}

/** POSTs a GraphQL operation and returns the status and body text. */
async function post(url: string, query: string): Promise<{ status: number; text: string }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
  return { status: response.status, text: await response.text() };
}

/** Waits until `url` answers a GraphQL request (any status), or the child exits, or time runs out. */
async function waitUntilServing(url: string, child: Child): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_S * 1000;
  while (Date.now() < deadline) {
    if (child.process.exitCode !== null) throw new Error(`exited with ${child.process.exitCode}:\n${child.output()}`);
    try {
      await post(url, '{ __typename }');
      return;
    } catch {
      await sleep(200);
    }
  }
  throw new Error(`not serving after ${STARTUP_TIMEOUT_S} s:\n${child.output()}`);
}

// ---------------------------------------------------------------------------------------------
// /proc sampling: memory and CPU time of a process, idle time of a core.

function procStatus(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** User + system CPU seconds a process has used. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return 0;
  }
}

/** [busy, total] ticks of one core. */
function coreTicks(core: string): [number, number] {
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${core} `)) ?? '';
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  const total = ticks.reduce((a, b) => a + b, 0);
  return [total - ticks[3] - (ticks[4] ?? 0), total]; // idle, iowait
}

async function subgraphStats(origin: string): Promise<SubgraphStats> {
  return (await fetch(`${origin}${STATS_PATH}`)).json() as Promise<SubgraphStats>;
}

// ---------------------------------------------------------------------------------------------
// The gateways.

const TSX_IMPORT = ['--import', 'tsx'];

function gatewayCommand(name: GatewayName, port: number, supergraphFile: string, throwawayJwk: string): { args: string[]; env: NodeJS.ProcessEnv } {
  const base = { ...process.env, NODE_ENV: 'production' };
  switch (name) {
    case 'stock':
      return { args: ['bench/gateway/gateways/stock.js', '--port', String(port), '--supergraph', supergraphFile], env: base };
    case 'hive':
    case 'hive-jit':
      return {
        args: [
          HIVE_GATEWAY_BIN,
          'supergraph',
          supergraphFile,
          '--host',
          HOST,
          '--port',
          String(port),
          ...(name === 'hive-jit' ? ['--jit'] : []),
        ],
        env: base,
      };
    default:
      return {
        args: [...TSX_IMPORT, 'bench/gateway/gateways/ours.ts', '--port', String(port), '--supergraph', supergraphFile],
        // A production configuration (log level and all else at their defaults) with a throwaway signing key; the gateway itself only verifies.
        env: { ...base, HOST, PORT: String(port), JWT_PRIVATE_JWK: throwawayJwk, BENCH_LEVERS_OFF: LEVER_VARIANTS[name].off.join(',') },
      };
  }
}

interface RoundResult {
  round: number;
  requestsPerSecond: number;
  requests: number;
  seconds: number;
  latencyMs: { p50: number; p95: number; p99: number };
  errors: number;
  mismatches: number;
  peakRssBytes: number;
  /** CPU the gateway process used during the timed window, in cores (1 = one full core). */
  gatewayCpu: number;
  /** Requests answered per CPU-second the gateway used: its cost per request, whatever share of core 0 it got. */
  requestsPerCpuSecond: number;
  /** CPU the subgraphs process used during the timed window, in cores. */
  subgraphsCpu: number;
  /** How busy core 1 (subgraphs and load generator) was during the timed window (0..1). */
  loadCoreBusy: number;
  /** /proc/loadavg's 1-minute figure at the end of the window (2 cores: above 2, other work was waiting). */
  loadAverage: number;
  /** Subgraph requests per answered gateway request, and their body bytes, during the timed window. */
  subgraphRequestsPerRequest: number;
  subgraphBytesPerRequest: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : nearestRank(sorted, p / 100);
}

/** A response body checker: the expected text is accepted at once, others are parsed and deep-compared. */
function bodyChecker(expected: unknown): (body: string) => boolean {
  const accepted = new Set<string>([JSON.stringify(expected)]);
  return (body) => {
    if (accepted.has(body)) return true;
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return false;
    }
    if (!isDeepStrictEqual(parsed, expected)) return false;
    if (accepted.size < 16) accepted.add(body); // a gateway answers with one text (maybe plus a newline)
    return true;
  };
}

interface LoadResult {
  requests: number;
  seconds: number;
  errors: number;
  mismatches: number;
  latencies: number[];
}

async function load(url: string, seconds: number, body: string, verifyBody: (body: string) => boolean): Promise<LoadResult> {
  const latencies: number[] = [];
  const instance = autocannon({
    url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections: CONNECTIONS,
    duration: seconds,
    timeout: REQUEST_TIMEOUT_S,
    verifyBody,
  });
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    if (statusCode === 200) latencies.push(responseTime);
  });
  const result = await instance;
  const errors = result.errors + result.non2xx; // errors include timeouts
  return { requests: result.requests.total - result.non2xx - result.mismatches, seconds: result.duration, errors, mismatches: result.mismatches, latencies };
}

async function measure(
  name: GatewayName,
  round: number,
  settings: Settings,
  context: { supergraphFile: string; throwawayJwk: string; subgraphsPid: number; subgraphsOrigin: string; expected: unknown; body: string },
): Promise<RoundResult> {
  const port = await freePort();
  const url = `http://${HOST}:${port}/graphql`;
  const { args, env } = gatewayCommand(name, port, context.supergraphFile, context.throwawayJwk);
  const gateway = start('taskset', ['-c', GATEWAY_CORE, process.execPath, ...args], env);
  try {
    await waitUntilServing(url, gateway);
    // Correctness first: one response, deep-compared with the answer computed from data.json.
    const first = await post(url, testQuery());
    let parsed: unknown;
    try {
      parsed = JSON.parse(first.text);
    } catch {
      parsed = undefined;
    }
    if (first.status !== 200 || !isDeepStrictEqual(parsed, context.expected)) {
      throw new Error(`${name} answered the TestQuery wrongly (status ${first.status}): ${first.text.slice(0, 1_000)}`);
    }
    const verifyBody = bodyChecker(context.expected);
    const warm = await load(url, settings.warmupSeconds, context.body, verifyBody);
    const statsBefore = await subgraphStats(context.subgraphsOrigin);
    const cpuBefore = [cpuSeconds(gateway.pid), cpuSeconds(context.subgraphsPid)];
    const ticksBefore = coreTicks(LOAD_CORE);
    let peakRss = 0;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, procStatus(gateway.pid, 'VmRSS'))), 500);
    const timed = await load(url, settings.durationSeconds, context.body, verifyBody);
    clearInterval(sampler);
    const ticksAfter = coreTicks(LOAD_CORE);
    const cpuAfter = [cpuSeconds(gateway.pid), cpuSeconds(context.subgraphsPid)];
    const statsAfter = await subgraphStats(context.subgraphsOrigin);
    peakRss = Math.max(peakRss, procStatus(gateway.pid, 'VmHWM'));
    const sorted = timed.latencies.sort((a, b) => a - b);
    return {
      round,
      requestsPerSecond: timed.requests / timed.seconds,
      requests: timed.requests,
      seconds: timed.seconds,
      latencyMs: { p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99) },
      errors: warm.errors + timed.errors,
      mismatches: warm.mismatches + timed.mismatches,
      peakRssBytes: peakRss,
      gatewayCpu: (cpuAfter[0] - cpuBefore[0]) / timed.seconds,
      requestsPerCpuSecond: timed.requests / Math.max(0.01, cpuAfter[0] - cpuBefore[0]),
      subgraphsCpu: (cpuAfter[1] - cpuBefore[1]) / timed.seconds,
      loadCoreBusy: (ticksAfter[0] - ticksBefore[0]) / Math.max(1, ticksAfter[1] - ticksBefore[1]),
      loadAverage: Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]),
      // Includes the requests still in flight when the window closed: a slight overestimate.
      subgraphRequestsPerRequest: (statsAfter.requests - statsBefore.requests) / Math.max(1, timed.requests),
      subgraphBytesPerRequest: (statsAfter.requestBytes - statsBefore.requestBytes) / Math.max(1, timed.requests),
    };
  } finally {
    await gateway.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Reporting.

interface GatewaySummary {
  rounds: RoundResult[];
  requestsPerSecond: number;
  latencyMs: { p50: number; p95: number; p99: number };
  peakRssMb: number;
  errors: number;
  mismatches: number;
  gatewayCpu: number;
  requestsPerCpuSecond: number;
  subgraphRequestsPerRequest: number;
  subgraphKbPerRequest: number;
  ratioToStock?: number;
  cpuRatioToStock?: number;
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
};

function summarise(rounds: RoundResult[]): GatewaySummary {
  return {
    rounds,
    requestsPerSecond: mean(rounds.map((r) => r.requestsPerSecond)),
    // Per-round percentiles, the median round's value for each.
    latencyMs: {
      p50: median(rounds.map((r) => r.latencyMs.p50)),
      p95: median(rounds.map((r) => r.latencyMs.p95)),
      p99: median(rounds.map((r) => r.latencyMs.p99)),
    },
    peakRssMb: Math.max(...rounds.map((r) => r.peakRssBytes)) / 2 ** 20,
    errors: rounds.reduce((a, r) => a + r.errors, 0),
    mismatches: rounds.reduce((a, r) => a + r.mismatches, 0),
    gatewayCpu: mean(rounds.map((r) => r.gatewayCpu)),
    requestsPerCpuSecond: mean(rounds.map((r) => r.requestsPerCpuSecond)),
    subgraphRequestsPerRequest: mean(rounds.map((r) => r.subgraphRequestsPerRequest)),
    subgraphKbPerRequest: mean(rounds.map((r) => r.subgraphBytesPerRequest)) / 1024,
  };
}


function markdownTable(summaries: Partial<Record<GatewayName, GatewaySummary>>, levers: boolean): string {
  const lines = [
    '| gateway | req/s (mean) | per round | × stock | p50 ms | p95 ms | p99 ms | peak RSS MB | gateway CPU | req per CPU-s | × stock | subgraph requests per request | subgraph KB per request | errors | mismatches |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const [name, s] of Object.entries(summaries) as [GatewayName, GatewaySummary][]) {
    const label = levers && name in LEVER_VARIANTS ? `${name}: ${LEVER_VARIANTS[name as keyof typeof LEVER_VARIANTS].label}` : name;
    lines.push(
      `| ${label} | ${fixed(s.requestsPerSecond)} | ${s.rounds.map((r) => fixed(r.requestsPerSecond)).join(' / ')} | ${fixed(s.ratioToStock, 2)} | ${fixed(s.latencyMs.p50, 0)} | ${fixed(s.latencyMs.p95, 0)} | ${fixed(s.latencyMs.p99, 0)} | ${fixed(s.peakRssMb, 0)} | ${fixed(s.gatewayCpu * 100, 0)}% | ${fixed(s.requestsPerCpuSecond)} | ${fixed(s.cpuRatioToStock, 2)} | ${fixed(s.subgraphRequestsPerRequest)} | ${fixed(s.subgraphKbPerRequest)} | ${s.errors} | ${s.mismatches} |`,
    );
  }
  return lines.join('\n');
}

function machine() {
  const cpuModel = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model;
  return { cores: cpus().length, cpuModel, memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version, loadAverageAtStart: readFileSync('/proc/loadavg', 'utf8').trim() };
}

function versions() {
  const version = (pkg: string) => (JSON.parse(readFileSync(resolve(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
  return {
    ...Object.fromEntries(['@apollo/gateway', '@apollo/server', '@apollo/subgraph', 'graphql'].map((p) => [p, version(p)])),
    ...Object.fromEntries(['@graphql-hive/gateway', 'autocannon'].map((p) => [p, toolVersion(p)])),
  };
}

async function throwawayJwk(): Promise<string> {
  const { exportJWK, generateKeyPair } = await import('jose');
  const { privateKey } = await generateKeyPair('EdDSA', { extractable: true });
  return JSON.stringify({ ...(await exportJWK(privateKey)), kid: 'bench-throwaway', alg: 'EdDSA' });
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const settings = parseSettings(process.argv.slice(2));
  // This process is the load generator: core 1, beside the subgraphs.
  execFileSync('taskset', ['-a', '-p', '-c', LOAD_CORE, String(process.pid)], { stdio: 'ignore' });
  const perGateway = settings.warmupSeconds + settings.durationSeconds + 15;
  const budgetMs = (settings.rounds * settings.gateways.length * perGateway + STARTUP_TIMEOUT_S) * 1000;
  setTimeout(() => {
    console.error(`gateway bench: still running after ${Math.round(budgetMs / 1000)} s, giving up`);
    killAll();
    process.exit(1);
  }, budgetMs).unref();

  checkComposition();
  const expected = expectedTestQueryResult();
  const body = JSON.stringify({ query: testQuery() });

  const subgraphsPort = await freePort();
  const subgraphs = start('taskset', ['-c', LOAD_CORE, process.execPath, ...TSX_IMPORT, 'bench/gateway/subgraphs.ts', '--port', String(subgraphsPort)], process.env);
  const deadline = Date.now() + STARTUP_TIMEOUT_S * 1000;
  while (!subgraphs.output().includes('ready')) {
    if (Date.now() > deadline || subgraphs.process.exitCode !== null) throw new Error(`subgraphs did not start:\n${subgraphs.output()}`);
    await sleep(100);
  }
  mkdirSync(RESULTS_DIR, { recursive: true });
  const supergraphFile = resolve(RESULTS_DIR, 'bench-supergraph.graphql');
  const subgraphsOrigin = `http://${HOST}:${subgraphsPort}`;
  writeFileSync(supergraphFile, benchSupergraph(subgraphsOrigin));
  const jwk = await throwawayJwk();

  const startedAt = new Date().toISOString();
  const machineAtStart = machine();
  console.log(
    `gateway bench: ${settings.gateways.join(', ')}; ${settings.rounds} round(s) of ${settings.warmupSeconds} s warm-up + ${settings.durationSeconds} s, ${CONNECTIONS} connections, gateway on core ${GATEWAY_CORE}`,
  );
  const rounds: Partial<Record<GatewayName, RoundResult[]>> = {};
  for (let round = 0; round < settings.rounds; round += 1) {
    const order = settings.gateways.map((_, i) => settings.gateways[(i + round) % settings.gateways.length]);
    for (const name of order) {
      const result = await measure(name, round + 1, settings, { supergraphFile, throwawayJwk: jwk, subgraphsPid: subgraphs.pid, subgraphsOrigin, expected, body });
      (rounds[name] ??= []).push(result);
      console.log(
        `  round ${round + 1} ${name.padEnd(8)} ${fixed(result.requestsPerSecond).padStart(7)} req/s  p50 ${fixed(result.latencyMs.p50, 0)} ms  p99 ${fixed(result.latencyMs.p99, 0)} ms  ` +
          `subgraph req/req ${fixed(result.subgraphRequestsPerRequest)} (${fixed(result.subgraphBytesPerRequest / 1024, 0)} KB)  RSS ${fixed(result.peakRssBytes / 2 ** 20, 0)} MB  cpu ${fixed(result.gatewayCpu * 100, 0)}% (${fixed(result.requestsPerCpuSecond)} req/CPU-s)  subgraphs ${fixed(result.subgraphsCpu * 100, 0)}%  core${LOAD_CORE} ${fixed(result.loadCoreBusy * 100, 0)}%  load ${fixed(result.loadAverage)}  errors ${result.errors}  mismatches ${result.mismatches}`,
      );
    }
  }
  await subgraphs.stop();

  const summaries: Partial<Record<GatewayName, GatewaySummary>> = {};
  for (const name of settings.gateways) summaries[name] = summarise(rounds[name] ?? []);
  const stock = summaries.stock;
  if (stock) {
    for (const summary of Object.values(summaries)) {
      summary.ratioToStock = summary.requestsPerSecond / stock.requestsPerSecond;
      summary.cpuRatioToStock = summary.requestsPerCpuSecond / stock.requestsPerCpuSecond;
    }
  }

  const report = {
    scenario: 'graphql-hive/graphql-gateways-benchmark federation scenario (TestQuery), Node subgraphs from bench/gateway/subgraphs.ts',
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: machineAtStart,
    versions: versions(),
    settings: { ...settings, connections: CONNECTIONS, gatewayCore: GATEWAY_CORE, loadCore: LOAD_CORE, freshProcessPerRound: true },
    gateways: summaries,
  };
  const output = settings.levers ? 'bench/results/gateway-levers.json' : 'bench/results/gateway.json';
  writeFileSync(resolve(ROOT, output), `${JSON.stringify(report, null, 2)}\n`);
  const run = settings.levers ? 'levers' : settings.quick ? 'quick' : 'full';
  console.log(`\n### Gateways (${run} run)\n\n${markdownTable(summaries, settings.levers)}\n\nWritten: ${output}`);
  const failed = Object.values(summaries).some((s) => s.errors > 0 || s.mismatches > 0);
  if (failed) {
    console.error('gateway bench: some responses were errors or mismatches');
    process.exitCode = 1;
  }
}

main().then(
  () => {
    killAll();
    process.exit(process.exitCode ?? 0);
  },
  (error: unknown) => {
    console.error('gateway bench failed:', error instanceof Error ? error.message : error);
    killAll();
    process.exit(1);
  },
);
