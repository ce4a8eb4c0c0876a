/**
 * Child-process entry of the chat benchmarks, so the system under test never shares an event loop
 * with the load generator. `child.ts system <pglite|postgres> <env-json>` runs the four subgraphs
 * (and an internal gateway) through test/support/system.ts, whose stop() also drops its schemas and
 * Redis keys; `child.ts gateway - <env-json>` runs one gateway alone.
 *
 * Talks to its parent over IPC: sends `{ type: 'ready', … }` once serving, then answers the
 * commands `'memory'` (a MemorySample after a full GC: the parent starts it with --expose-gc) and,
 * for a system, `'queries'` (database queries per list request, which only this process can count).
 * Stops on SIGTERM, or when the parent goes away.
 */
import { loadConfig } from '@chat/shared/config';
import { loadServiceKeyring } from '@chat/shared/service-auth';
import { startGateway } from '@chat/gateway';
import { startTestSystem, type Engine, type TestSystem } from '../../test/support/system';
import { measureQueryCounts, type ListQueryCounts } from './queries';

/** What a child reports of its memory. */
export interface MemorySample {
  rss: number;
  heapUsed: number;
  external: number;
}

/** The commands the parent sends, and what each answers. */
export interface ChildAnswers {
  memory: MemorySample;
  queries: ListQueryCounts[];
}
export type ChildCommand = keyof ChildAnswers;

/** Messages a child sends its parent. */
export type ChildMessage =
  | { type: 'ready'; gatewayUrl: string }
  | { type: 'failed'; error: string }
  | { type: 'answer'; command: ChildCommand; result: ChildAnswers[ChildCommand] }
  | { type: 'error'; command: ChildCommand; error: string };

const [role, engine, envJson] = process.argv.slice(2);
const env = JSON.parse(envJson ?? '{}') as Record<string, string>;
const send = (message: ChildMessage) => process.send?.(message);
const describe = (error: unknown) => (error instanceof Error ? (error.stack ?? error.message) : String(error));

let system: TestSystem | undefined;
let stop: () => Promise<void> = async () => undefined;
let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  setTimeout(() => process.exit(1), 15_000).unref(); // never outlive a stuck stop
  await stop().catch(() => undefined);
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
process.on('disconnect', shutdown); // the parent died or let go: nothing may keep running

process.on('message', async (command: ChildCommand) => {
  try {
    if (command === 'memory') {
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      gc?.();
      const { rss, heapUsed, external } = process.memoryUsage();
      send({ type: 'answer', command, result: { rss, heapUsed, external } });
    } else if (command === 'queries') {
      if (!system) throw new Error('only a system child counts queries');
      send({ type: 'answer', command, result: await measureQueryCounts(system) });
    }
  } catch (error) {
    send({ type: 'error', command, error: describe(error) });
  }
});

try {
  if (role === 'system') {
    const running = await startTestSystem(engine as Engine, env);
    system = running;
    stop = () => running.stop();
    send({ type: 'ready', gatewayUrl: running.gatewayUrl });
  } else if (role === 'gateway') {
    // The service keys come in `env` (SERVICE_PRIVATE_KEYS, SERVICE_PUBLIC_KEYS), the same as the system child's.
    const config = loadConfig({ NODE_ENV: 'test', PORT: '0', ...env });
    const gateway = await startGateway(config, loadServiceKeyring(config));
    stop = () => gateway.close();
    send({ type: 'ready', gatewayUrl: gateway.url });
  } else {
    throw new Error(`unknown role "${role}"`);
  }
} catch (error) {
  send({ type: 'failed', error: describe(error) });
  await shutdown();
}
