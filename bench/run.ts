/**
 * `npm run bench [-- --quick]`: the gateway throughput benchmark, what each of the gateway's
 * levers buys (full run only), the chat path benchmark, then message search, each as its own
 * process (tsx bench/<part>/run.ts), `--quick` passed through. Exits non-zero when a part failed.
 * Results: bench/results/gateway.json, gateway-levers.json, chat.json and search.json (see BENCHMARKS.md).
 * First installs the benchmarks' own tools (bench/tools) when they are not there yet.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBenchTools } from './tools/install';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const QUICK = process.argv.includes('--quick');
const PARTS: Array<{ name: string; file: string; args: string[] }> = [
  { name: 'gateway', file: 'bench/gateway/run.ts', args: QUICK ? ['--quick'] : [] },
  ...(QUICK ? [] : [{ name: 'gateway levers', file: 'bench/gateway/run.ts', args: ['--levers'] }]),
  { name: 'chat', file: 'bench/chat/run.ts', args: QUICK ? ['--quick'] : [] },
  { name: 'search', file: 'bench/search/run.ts', args: QUICK ? ['--quick'] : [] },
];

let current: ChildProcess | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    current?.kill(signal);
    process.exit(130);
  });
}

function runPart(file: string, args: string[]): Promise<number> {
  return new Promise((resolveExit) => {
    current = spawn(process.execPath, ['--import', 'tsx', file, ...args], { cwd: ROOT, stdio: 'inherit' });
    current.once('exit', (code, signal) => resolveExit(code ?? (signal ? 1 : 0)));
    current.once('error', () => resolveExit(1));
  });
}

ensureBenchTools();
const failed: string[] = [];
for (const part of PARTS) {
  console.log(`\n== ${part.name}: tsx ${[part.file, ...part.args].join(' ')}\n`);
  const code = await runPart(part.file, part.args);
  if (code !== 0) failed.push(`${part.name} (exit ${code})`);
}
current = undefined;
if (failed.length > 0) {
  console.error(`bench: failed: ${failed.join(', ')}`);
  process.exit(1);
}
