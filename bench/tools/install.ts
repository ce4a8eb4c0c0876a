/**
 * Installs the benchmarks' tools (bench/tools) when they are missing or not the locked versions,
 * with `npm ci` from this folder's lockfile: `npm run bench` needs no other step, and the
 * repository's `npm install` never downloads them. Imports none of the tools itself (they may not
 * be there yet).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** bench/tools: its package.json, lockfile and node_modules. */
export const TOOLS_DIR = fileURLToPath(new URL('./', import.meta.url));
/** Longest the install may take (a cold npm cache downloads a few hundred MB). */
export const INSTALL_TIMEOUT_MS = 10 * 60_000;

const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;

/** The installed version of one of the tools; undefined when it is not installed. */
export function toolVersion(name: string, dir = TOOLS_DIR): string | undefined {
  const manifest = join(dir, 'node_modules', name, 'package.json');
  return existsSync(manifest) ? readJson<{ version: string }>(manifest).version : undefined;
}

/** The tools (package.json's dependencies) that are not installed at the version the lockfile names. */
export function missingTools(dir = TOOLS_DIR): string[] {
  const { dependencies = {} } = readJson<{ dependencies?: Record<string, string> }>(join(dir, 'package.json'));
  const { packages } = readJson<{ packages: Record<string, { version?: string }> }>(join(dir, 'package-lock.json'));
  return Object.keys(dependencies).filter((name) => toolVersion(name, dir) !== packages[`node_modules/${name}`]?.version);
}

/** Installs the tools with `npm ci` unless every one is already there; throws when npm fails. */
export function ensureBenchTools(dir = TOOLS_DIR): void {
  const missing = missingTools(dir);
  if (missing.length === 0) return;
  console.log(`\n== bench tools: npm ci in ${dir} (${missing.join(', ')} missing or not the locked version)\n`);
  const npm = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'inherit', timeout: INSTALL_TIMEOUT_MS });
  if (npm.status !== 0) throw new Error(`npm ci in ${dir} failed (${npm.error?.message ?? `exit ${npm.status ?? npm.signal}`})`);
}
