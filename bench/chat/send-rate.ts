/**
 * sendMessage throughput end to end: a fixed number of clients, each sending one message after
 * another through the gateway (stored and queued; the reply is not waited for), counted over a timed
 * window after a warm-up. The replies are still generated meanwhile, as they would be. A send to a
 * conversation whose previous reply is still being written is answered CONFLICT (the contract's
 * rule): counted as busy, not as an error, and the client goes on to its next conversation.
 */
import { gql, nowMs, SEND, summarize, type Population, type Summary } from './common';

/** How the load is applied. */
export interface SendRateOptions {
  gatewayUrl: string;
  population: Population;
  /** Requests in flight at once (one sequential client each). */
  concurrency: number;
  warmupMs: number;
  windowMs: number;
}

/** What the window saw. */
export interface SendRateResult {
  concurrency: number;
  windowMs: number;
  /** Successful sends completed in the window, per second. */
  perSecond: number;
  ok: number;
  /** Sends answered CONFLICT because the conversation's previous reply was still being written (the contract's answer, not an error). */
  busy: number;
  errors: number;
  /** Error codes (or HTTP statuses) of the failures, counted. */
  errorCodes: Record<string, number>;
  latencyMs: Summary;
}

/** Runs the clients for warm-up + window; only requests that complete inside the window count. */
export async function measureSendRate(o: SendRateOptions): Promise<SendRateResult> {
  const { conversations } = o.population;
  if (conversations.length < o.concurrency) throw new Error(`need at least ${o.concurrency} conversations`);
  const perClient = Math.floor(conversations.length / o.concurrency);
  const windowStart = nowMs() + o.warmupMs;
  const windowEnd = windowStart + o.windowMs;
  const latencies: number[] = [];
  const errorCodes: Record<string, number> = {};
  let ok = 0;
  let busy = 0;
  let errors = 0;
  let sequence = 0;
  const client = async (w: number) => {
    // Each client walks its own conversations, so no two clients write to one conversation at once.
    for (let k = 0; nowMs() < windowEnd; k += 1) {
      const conversation = conversations[w + (k % perClient) * o.concurrency];
      const started = nowMs();
      const res = await gql(o.gatewayUrl, SEND, { input: { conversationId: conversation.id, content: `rate ${sequence++} ${started}` } }, conversation.user.token);
      const ended = nowMs();
      if (ended < windowStart || ended >= windowEnd) continue;
      if (res.status === 200 && !res.errors?.length && res.data?.sendMessage) {
        ok += 1;
        latencies.push(ended - started);
      } else if (res.errors?.[0]?.extensions?.code === 'CONFLICT') {
        busy += 1;
      } else {
        errors += 1;
        const code = res.errors?.[0]?.extensions?.code ?? `HTTP ${res.status}`;
        errorCodes[code] = (errorCodes[code] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, (_, w) => client(w)));
  return { concurrency: o.concurrency, windowMs: o.windowMs, perSecond: ok / (o.windowMs / 1000), ok, busy, errors, errorCodes, latencyMs: summarize(latencies) };
}
