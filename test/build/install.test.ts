/**
 * The default install (`npm install`, package-lock.json) carries the product and its tests only:
 * the benchmarks' tools install apart (bench/tools), and the versions most dependents need are
 * hoisted, so npm does not copy them into each dependent (package.json's "//" says why).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { workspaceFolders } from '../../scripts/workspaces';

const read = <T>(path: string): T => JSON.parse(readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8')) as T;

interface Manifest {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}
interface Lockfile {
  packages: Record<string, { version?: string }>;
}

/** Pinned in devDependencies only so that npm hoists these versions (those of jest and of @opentelemetry/sdk-node). */
const HOISTING_PINS = [
  'pretty-format',
  '@opentelemetry/api-logs',
  '@opentelemetry/exporter-metrics-otlp-http',
  '@opentelemetry/otlp-exporter-base',
  '@opentelemetry/otlp-transformer',
  '@opentelemetry/sdk-logs',
  '@opentelemetry/sdk-metrics',
];

describe('the default install', () => {
  const root = read<Manifest>('package.json');
  const lock = read<Lockfile>('package-lock.json');
  const tools = read<Manifest>('bench/tools/package.json');

  it("has none of the benchmarks' tools, which bench/tools installs apart (and is no workspace, so nothing of it is hoisted)", () => {
    const toolNames = Object.keys(tools.dependencies ?? {});
    expect(toolNames).toEqual(expect.arrayContaining(['@graphql-hive/gateway', 'autocannon']));
    for (const name of toolNames) {
      expect({ name, declared: Boolean(root.dependencies?.[name] ?? root.devDependencies?.[name]) }).toEqual({ name, declared: false });
      expect({ name, locked: Object.keys(lock.packages).filter((path) => path.endsWith(`node_modules/${name}`)) }).toEqual({ name, locked: [] });
    }
    expect(workspaceFolders()).not.toContain('bench/tools');
  });

  it('keeps the hoisting pins, each version installed once, at the top', () => {
    for (const name of HOISTING_PINS) {
      const version = root.devDependencies?.[name];
      const copies = Object.entries(lock.packages).filter(([path, entry]) => path.endsWith(`node_modules/${name}`) && entry.version === version);
      expect({ name, copies: copies.map(([path]) => path) }).toEqual({ name, copies: [`node_modules/${name}`] });
    }
  });
});
