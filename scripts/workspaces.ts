/** The npm workspaces package.json declares, read from disk (for build checks; nothing at run time needs them). */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root folder. */
export const REPOSITORY_ROOT = fileURLToPath(new URL('../', import.meta.url));

/** One workspace: its folder (from the repository root), its package name and its `exports` map. */
export interface Workspace {
  folder: string;
  name: string;
  /** Subpath (`.` or `./*`) to file (`./src/*.ts`), as package.json says. */
  exports: Record<string, string>;
}

/** The workspace folders package.json declares (globs of one trailing `*` only), in its order. */
export function workspaceFolders(root = REPOSITORY_ROOT): string[] {
  const { workspaces: globs } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces: string[] };
  return globs.flatMap((glob) => {
    if (!glob.endsWith('/*')) return [glob];
    const parent = glob.slice(0, -1);
    return readdirSync(join(root, parent), { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && existsSync(join(root, parent, entry.name, 'package.json')))
      .map((entry) => `${parent}${entry.name}`);
  });
}

/** Every workspace with its name and exports. */
export function workspaces(root = REPOSITORY_ROOT): Workspace[] {
  return workspaceFolders(root).map((folder) => {
    const manifest = JSON.parse(readFileSync(join(root, folder, 'package.json'), 'utf8')) as { name: string; exports?: string | Record<string, string> };
    const exports = typeof manifest.exports === 'string' ? { '.': manifest.exports } : (manifest.exports ?? {});
    return { folder, name: manifest.name, exports };
  });
}
