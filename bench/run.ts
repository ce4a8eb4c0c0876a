/**
 * `npm run bench [-- --quick]`: the gateway throughput benchmark, then the chat path benchmark,
 * each as its own process (tsx bench/<part>/run.ts), `--quick` passed through. A part whose
 * runner does not exist yet is skipped with a message. Exits non-zero when a part failed.
 * Results: bench/results/gateway.json and bench/results/chat.json (see BENCHMARKS.md).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PARTS = ['gateway', 'chat'] as const;
const passed = process.argv.slice(2).filter((arg) => arg === '--quick');

let current: ChildProcess | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    current?.kill(signal);
    process.exit(130);
  });
}

function runPart(file: string): Promise<number> {
  return new Promise((resolveExit) => {
    current = spawn(process.execPath, ['--import', 'tsx', file, ...passed], { cwd: ROOT, stdio: 'inherit' });
    current.once('exit', (code, signal) => resolveExit(code ?? (signal ? 1 : 0)));
    current.once('error', () => resolveExit(1));
  });
}

const failed: string[] = [];
for (const part of PARTS) {
  const file = `bench/${part}/run.ts`;
  if (!existsSync(resolve(ROOT, file))) {
    console.log(`\n== ${part}: skipped, ${file} does not exist yet\n`);
    continue;
  }
  console.log(`\n== ${part}: tsx ${file} ${passed.join(' ')}\n`);
  const code = await runPart(file);
  if (code !== 0) failed.push(`${part} (exit ${code})`);
}
current = undefined;
if (failed.length > 0) {
  console.error(`bench: failed: ${failed.join(', ')}`);
  process.exit(1);
}
