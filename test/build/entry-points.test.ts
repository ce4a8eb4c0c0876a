/** Cheap sanity of what a newcomer and CI run first: README's two commands and `.ci/run`. */
import { accessSync, constants, readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';

const file = (path: string) => new URL(`../../${path}`, import.meta.url);
const read = (path: string) => readFileSync(file(path), 'utf8');

/** The commands README shows, in order: the first line of each fenced shell block. */
function readmeCommands(): string[] {
  const blocks = [...read('README.md').matchAll(/```(?:sh|bash|shell)\n([\s\S]*?)```/g)];
  return blocks.map((b) => b[1].split('\n').find((l) => l.trim() && !l.trim().startsWith('#'))!.trim());
}

describe('entry points', () => {
  it("README's first two commands start the system and run every test, with the one install command", () => {
    const [start, test] = readmeCommands();
    expect(start).toBe('npm install && npm start');
    expect(test).toBe('npm install && npm test');
  });

  it('README shows the commands before any other section', () => {
    const readme = read('README.md');
    const firstSection = readme.search(/^## /m);
    expect(firstSection).toBeGreaterThan(0);
    expect(readme.indexOf('npm install && npm start')).toBeLessThan(firstSection);
    expect(readme.indexOf('npm install && npm test')).toBeLessThan(firstSection);
  });

  it('.ci/run is an executable bash script that installs with the same command and runs npm test', () => {
    accessSync(file('.ci/run'), constants.X_OK);
    const script = read('.ci/run');
    expect(script.startsWith('#!/usr/bin/env bash\n')).toBe(true);
    expect(script).toMatch(/^[^#\n]*\bnpm install\b/m);
    expect(script).toMatch(/\bnpm test\b/);
  });

  it('the npm scripts the README names exist', () => {
    const { scripts } = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    for (const name of ['start', 'test', 'compose', 'codegen']) expect(scripts[name]).toBeTruthy();
  });
});
