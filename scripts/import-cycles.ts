/**
 * Import cycles among our own modules, found by madge: `npm run check:cycles` and
 * test/build/cycles.test.ts fail on any. Type-only and dynamic imports count: a cycle of types
 * still ties two modules together (codegen's output importing its resolvers' module was one). Files
 * resolve as TypeScript resolves them, the workspaces' @chat/* names to their sources through
 * `paths` built from each workspace's package.json `exports`: npm links them under node_modules,
 * which madge leaves out as third-party code, so without the mapping every @chat/* edge would be lost.
 */
import { join } from 'node:path';
import madge from 'madge';
import { REPOSITORY_ROOT, workspaces } from './workspaces';
/** Where our own modules live (bench/ imports them but nothing imports bench/). */
export const CHECKED_FOLDERS: readonly string[] = ['packages', 'gateway', 'subgraphs', 'scripts', 'test/support'];

/** TypeScript `paths` for every export of every workspace, e.g. `@chat/shared/*` → `packages/shared/src/*`. */
export function workspacePaths(root = REPOSITORY_ROOT): Record<string, string[]> {
  return Object.fromEntries(
    workspaces(root).flatMap((workspace) =>
      Object.entries(workspace.exports).map(([subpath, target]) => [
        subpath === '.' ? workspace.name : `${workspace.name}/${subpath.replace(/^\.\//, '')}`,
        // Without the extension: TypeScript adds it, as it does for the importer's own specifier.
        [join(workspace.folder, target).replace(/\.ts$/, '')],
      ]),
    ),
  );
}

/** Our modules and what they import. */
export interface ImportGraph {
  /** Each module (from the repository root) and the modules of ours it imports. */
  imports: Record<string, string[]>;
  /** Each cycle, as the modules along it. */
  cycles: string[][];
  /** Imports that resolved to no file. */
  unresolved: string[];
}

/** The import graph of `folders` (from the repository root) and of everything of ours they import. */
export async function importGraph(folders: readonly string[] = CHECKED_FOLDERS): Promise<ImportGraph> {
  const result = await madge(
    folders.map((folder) => join(REPOSITORY_ROOT, folder)),
    {
      baseDir: REPOSITORY_ROOT,
      fileExtensions: ['ts'],
      tsConfig: { compilerOptions: { module: 'esnext', moduleResolution: 'bundler', baseUrl: REPOSITORY_ROOT, paths: workspacePaths() } },
      detectiveOptions: { ts: { skipTypeImports: false, skipAsyncImports: false } },
    },
  );
  return { imports: result.obj(), cycles: result.circular(), unresolved: result.warnings().skipped };
}

/** What is wrong with a graph, one line each: every cycle, and every @chat/* import the mapping missed (the check would be blind to it). */
export function importProblems(graph: ImportGraph): string[] {
  return [
    ...graph.cycles.map((cycle) => `import cycle: ${[...cycle, cycle[0]].join(' -> ')}`),
    ...graph.unresolved.filter((name) => name.startsWith('@chat/')).map((name) => `unresolved workspace import: ${name} (not in any workspace's exports)`),
  ];
}
