/** No import cycles among our modules (scripts/import-cycles.ts; `npm run check:cycles` runs the same check). */
import { describe, expect, it } from '@jest/globals';
import { importGraph, importProblems } from '../../scripts/import-cycles';

describe('import cycles', () => {
  it('there are none in packages/, gateway/, subgraphs/, scripts/ and test/support/, type-only imports included', async () => {
    const graph = await importGraph();
    expect(importProblems(graph)).toEqual([]);
    // The check sees through the workspace names: an entry point's @chat/* imports are edges of the graph.
    expect(graph.imports['subgraphs/users/main.ts']).toEqual(expect.arrayContaining(['packages/shared/src/process.ts', 'subgraphs/users/index.ts']));
    expect(graph.imports['packages/system/src/index.ts']).toEqual(expect.arrayContaining(['gateway/src/gateway.ts', 'subgraphs/messages/index.ts']));
  });

  it('finds a cycle made of type-only imports', async () => {
    const graph = await importGraph(['test/build/fixtures/type-cycle']);
    expect(graph.cycles).toEqual([['test/build/fixtures/type-cycle/message.ts', 'test/build/fixtures/type-cycle/thread.ts']]);
    expect(importProblems(graph)).toEqual(['import cycle: test/build/fixtures/type-cycle/message.ts -> test/build/fixtures/type-cycle/thread.ts -> test/build/fixtures/type-cycle/message.ts']);
  });
});
