/** Free TCP ports for tests and benchmarks that wire services to each other before starting them. */
import { listen } from '@chat/shared/http';

/** Lowest and highest port `freePort` hands out: below Linux's ephemeral range (32768+), so outgoing connections never take them. */
export const FREE_PORT_RANGE = { first: 20_000, last: 32_000 } as const;

/** Ports each process starts its walk at, apart from the next process's start. */
const SLICE = 500;
let nextCandidate = 0;

/**
 * A port that was free a moment ago, for wiring services to each other before they start.
 * Each process walks its own slice of FREE_PORT_RANGE (by pid), so parallel test workers do not collide.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const { first, last } = FREE_PORT_RANGE;
  const span = last - first;
  const base = first + ((process.pid * SLICE) % span);
  for (let tries = 0; tries < span; tries += 1) {
    const port = first + ((base - first + nextCandidate++) % span);
    try {
      const probe = await listen(() => undefined, port, host);
      await probe.close();
      return port;
    } catch {
      // taken: try the next one
    }
  }
  throw new Error('no free port in range');
}
