/**
 * Starts and stops the system under test as child processes (bench/chat/child.ts): one process with
 * the four subgraphs, and one with the gateway the benchmarks talk to, so the gateway's memory and
 * CPU are its own and neither shares an event loop with the load generator.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SUBGRAPH_NAMES } from '@chat/shared/config';
import { generateServiceKeySet, serviceKeyEnvironment } from '@chat/shared/service-auth';
import { freePort } from '../../test/support/ports';
import type { ChildAnswers, ChildCommand, ChildMessage, MemorySample } from './child';
import type { ListQueryCounts } from './queries';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));
const START_TIMEOUT_MS = 120_000;

/** One running child. */
export interface ChildService {
  pid: number;
  gatewayUrl: string;
  /** Its memory after a full GC. */
  memory(): Promise<MemorySample>;
  /** A system child only: database queries per list request, counted in its process (queries.ts). */
  countQueries(): Promise<ListQueryCounts[]>;
  /** SIGTERM, then SIGKILL if it lingers; resolves once it has exited. */
  stop(): Promise<void>;
}

/** Every child still running, so `stopAll` can end them on any exit path. */
const running = new Set<ChildService>();

/** Starts a child in `role`; resolves once it reports ready. */
export async function startChild(role: 'system' | 'gateway', engine: 'pglite' | 'postgres' | '-', env: Record<string, string>): Promise<ChildService> {
  // BENCH_CPU_PROF_DIR: each child writes a V8 CPU profile there as it exits (open it in Chrome DevTools).
  const profile = process.env.BENCH_CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF_DIR}`] : [];
  const child = spawn(process.execPath, ['--expose-gc', ...profile, '--import', 'tsx', CHILD, role, engine, JSON.stringify(env)], {
    cwd: ROOT,
    // The system is test/support/system.ts's, configured as under jest.
    env: { ...process.env, NODE_ENV: 'test' },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const service: ChildService = {
    pid: child.pid!,
    gatewayUrl: '',
    memory: () => ask(child, 'memory', 10_000),
    countQueries: () => ask(child, 'queries', 120_000),
    async stop() {
      running.delete(service);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
  running.add(service);
  const ready = await new Promise<ChildMessage>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${role} did not start within ${START_TIMEOUT_MS} ms: ${output}`)), START_TIMEOUT_MS);
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'ready' || message.type === 'failed') {
        clearTimeout(timer);
        resolve(message);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${role} exited with ${code} before it was ready: ${output}`));
    });
  }).catch(async (error) => {
    await service.stop();
    throw error;
  });
  if (ready.type === 'failed') {
    await service.stop();
    throw new Error(`${role} failed to start: ${ready.error}`);
  }
  if (ready.type === 'ready') service.gatewayUrl = ready.gatewayUrl;
  return service;
}

/** Sends a child `command` and resolves with its answer. */
function ask<C extends ChildCommand>(child: ChildProcess, command: C, timeoutMs: number): Promise<ChildAnswers[C]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`no answer to "${command}" within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (message: ChildMessage) => {
      if (message.type === 'answer' && message.command === command) finish(undefined, message.result as ChildAnswers[C]);
      else if (message.type === 'error' && message.command === command) finish(new Error(`${command}: ${message.error}`));
    };
    const finish = (error?: Error, result?: ChildAnswers[C]) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      if (error) reject(error);
      else resolve(result!);
    };
    child.on('message', onMessage);
    child.send(command);
  });
}

/** The system under test: subgraphs in one process, the gateway the benchmarks use in another. */
export interface SystemUnderTest {
  engine: 'pglite' | 'postgres';
  subgraphs: ChildService;
  gateway: ChildService;
  /** Replaces the gateway process with a fresh one (same configuration). */
  restartGateway(): Promise<ChildService>;
  stop(): Promise<void>;
}

/** Starts the subgraphs on `engine` with `env` and a gateway process in front of them, both at once (on ports chosen here). */
export async function startSystemUnderTest(engine: 'pglite' | 'postgres', env: Record<string, string>): Promise<SystemUnderTest> {
  const ports = await Promise.all(SUBGRAPH_NAMES.map(() => freePort()));
  const urls = Object.fromEntries(SUBGRAPH_NAMES.map((name, i) => [`${name.toUpperCase()}_URL`, `http://127.0.0.1:${ports[i]}/graphql`]));
  // One key set for both processes (the subgraphs refuse calls no known service signed): the gateway holds its own key only.
  const keys = generateServiceKeySet();
  const startGateway = () => startChild('gateway', '-', { ...env, ...urls, ...serviceKeyEnvironment(keys, ['gateway']) });
  const started = await Promise.allSettled([startChild('system', engine, { ...env, ...urls, ...serviceKeyEnvironment(keys) }), startGateway()]);
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await Promise.all(started.map((s) => (s.status === 'fulfilled' ? s.value.stop() : undefined)));
    throw failed.reason;
  }
  const [subgraphs, gateway] = started.map((s) => (s as PromiseFulfilledResult<ChildService>).value);
  const sut: SystemUnderTest = {
    engine,
    subgraphs,
    gateway,
    async restartGateway() {
      await sut.gateway.stop();
      sut.gateway = await startGateway();
      return sut.gateway;
    },
    async stop() {
      await sut.gateway.stop();
      await subgraphs.stop();
    },
  };
  return sut;
}

/** Stops every child still running (on any exit path of the benchmark). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((child) => child.stop()));
}
