/**
 * Counting a running system's database queries around a piece of work, in the process that runs it:
 * each subgraph's `service.stats.queries` counts every query its store ran.
 */
import { SUBGRAPH_NAMES, type SubgraphName } from '@chat/shared/config';
import type { TestSystem } from './system';

/** How {@link queriesDuring} reads. */
export interface QueryCountOptions<N extends SubgraphName> {
  /** Runs of the work; the fewest queries of them count (default 1). */
  readonly readings?: number;
  /** The subgraphs to count (default: all four). */
  readonly subgraphs?: readonly N[];
}

/**
 * The database queries each subgraph ran while `run` ran, the fewest over `readings` runs: background
 * work (the settlement drain, the erasure poll, the job queue) only ever adds queries to a window.
 */
export async function queriesDuring<N extends SubgraphName = SubgraphName>(
  t: TestSystem,
  run: () => Promise<void>,
  options: QueryCountOptions<N> = {},
): Promise<Record<N, number>> {
  // Without a list, N is SubgraphName: all four.
  const { readings = 1, subgraphs = SUBGRAPH_NAMES as readonly SubgraphName[] as readonly N[] } = options;
  const count = (name: N) => t.system.subgraphs[name].service.stats.queries;
  const fewest = Object.fromEntries(subgraphs.map((name) => [name, Infinity])) as Record<N, number>;
  for (let i = 0; i < readings; i += 1) {
    const before = subgraphs.map(count);
    await run();
    subgraphs.forEach((name, k) => (fewest[name] = Math.min(fewest[name], count(name) - before[k])));
  }
  return fewest;
}
