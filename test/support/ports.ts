/** Free TCP ports for tests and benchmarks that wire services to each other before starting them. */
import { randomInt } from 'node:crypto';
import { listen } from '@chat/shared/http';

/** Lowest and highest port `freePort` hands out: below Linux's ephemeral range (32768+), so outgoing connections never take them. */
export const FREE_PORT_RANGE = { first: 20_000, last: 32_000 } as const;
/** Ports tried before giving up (the range is nearly all free: running out means something is wrong). */
const ATTEMPTS = 1_000;

/**
 * Ports this process has handed out. A port is free when probed but taken only once the service it
 * was given to listens, seconds later on a busy machine: it must not be handed out again meanwhile.
 */
const handedOut = new Set<number>();

/**
 * A port that was free a moment ago, for wiring services to each other before they start. Picked
 * at random in FREE_PORT_RANGE, never twice in a process: other processes doing the same (parallel
 * jest workers, other test runs on the machine) pick the same port by chance only (1 in 12,000),
 * where walks from fixed starting points would meet whenever two of them started at the same point.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt += 1) {
    const port = randomInt(FREE_PORT_RANGE.first, FREE_PORT_RANGE.last + 1);
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    try {
      const probe = await listen(() => undefined, port, host);
      await probe.close();
      return port;
    } catch {
      // taken by another process: try another
    }
  }
  throw new Error(`no free port in ${FREE_PORT_RANGE.first}-${FREE_PORT_RANGE.last} after ${ATTEMPTS} attempts`);
}
