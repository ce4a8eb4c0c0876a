/** The generated resolver types (subgraphs/<name>/generated/graphql.ts) match each subgraph's schema.graphql. */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';

const root = fileURLToPath(new URL('../..', import.meta.url));
/** The same CLI `npm run codegen` runs (the package's `graphql-codegen` bin). */
const cli = join(dirname(createRequire(import.meta.url).resolve('@graphql-codegen/cli/package.json')), 'esm/bin.js');

describe('generated resolver types', () => {
  it('are fresh: `graphql-codegen --check` finds nothing to regenerate (else run `npm run codegen`)', () => {
    // --check is a dry run: it writes nothing and exits 1 listing the stale files.
    const run = spawnSync(process.execPath, [cli, '--config', 'codegen.ts', '--check'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    if (run.status !== 0) {
      const output = `${run.stdout}\n${run.stderr}`.split('\n').filter((l) => !/^\s*[❯✔]/.test(l)).join('\n').trim();
      throw new Error(`Generated resolver types are stale or codegen failed (exit ${run.status ?? run.signal}). Run \`npm run codegen\` and commit the result.\n${output}`);
    }
    expect(run.status).toBe(0);
  }, 120_000);
});
