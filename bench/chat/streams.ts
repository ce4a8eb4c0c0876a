/**
 * Streaming latency: N conversations, each watched by its own graphql-ws socket, each sent one
 * message whose reply the fake LLM streams at a fixed pace. Every token carries the time the fake
 * server wrote it (` t=<epoch ms>`), so each delta's receipt time minus that stamp is the latency the
 * system adds (provider → messages subgraph → graphql-ws → gateway → client). The fake server and
 * the clients share this process's clock; the system runs in other processes.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Client } from 'graphql-ws';
import type { FakeLlmServer } from '../../test/support/fake-llm';
import { wsClient } from '../../test/support/ws';
import { gql, nowMs, pool, SEND, sleep, summarize, type Population, type Summary } from './common';

/** How one level runs. */
export interface StreamOptions {
  gatewayUrl: string;
  fake: FakeLlmServer;
  population: Population;
  /** Concurrent streaming subscriptions (one conversation and one socket each). */
  streams: number;
  /** Tokens per reply, and the fake server's pace. */
  tokens: number;
  tokenDelayMs: number;
  firstTokenDelayMs: number;
  /** sendMessage requests in flight at once while starting the replies. */
  sendConcurrency: number;
}

/** What one level measured. */
export interface StreamResult {
  streams: number;
  tokens: number;
  tokenDelayMs: number;
  /** Replies whose subscriber saw REPLY_COMPLETED. */
  completed: number;
  /** Replies that did not complete (failed, or no end seen in time), and sendMessage errors. */
  failed: number;
  /** Subscribers whose first delta was a catch-up of text written before they were listening (excluded from latency). */
  lateJoins: number;
  /** Token stamps received live, of tokens × streams. */
  stampsReceived: number;
  /** Provider write → client receipt, every live delta. */
  latencyMs: Summary;
  /** The same, only for tokens written while all N were streaming (tokens 2…, after every reply had started). */
  steadyLatencyMs: Summary;
  /** How long every stream was streaming at once (from the release of the held tokens to the first reply's end). */
  steadyWindowMs: number;
  /** Tokens the provider actually wrote per second in that window (below streams × 1000 / pace when this process lagged). */
  writtenPerSecond: number;
  /** Live-delta latency per second of write time from that release: a rising p50 means the system fell behind the pace. */
  timeline: Array<{ second: number; n: number; p50: number | null; p99: number | null }>;
  /** sendMessage response → first delta, minus the fake server's first-token delay (taken during the ramp of N sends). */
  ttftAddedMs: Summary;
  /** sendMessage round trip while the level started. */
  sendMs: Summary;
  /** The load generator's own event-loop delay (p99): large values mean the client side, not the system, was slow. */
  clientLoopDelayP99Ms: number;
  durationMs: number;
}

const SUBSCRIPTION = `subscription($id: ID!) { conversationEvents(conversationId: $id) { kind messageId delta sequence } }`;
const STAMP = / t=(\d+(?:\.\d+)?)/g;
const TERMINAL = new Set(['REPLY_COMPLETED', 'REPLY_FAILED', 'REPLY_CANCELLED']);

/** One subscriber's view of its reply. */
interface StreamState {
  sentAt: number;
  firstAt: number;
  late: boolean;
  /** [written, received] per live token. */
  stamps: Array<[number, number]>;
  end: string;
  error: boolean;
}

/** Runs one level: subscribe N, send N, collect every delta until each reply ends. */
export async function measureStreams(o: StreamOptions): Promise<StreamResult> {
  if (o.population.conversations.length < o.streams) throw new Error(`need ${o.streams} conversations, have ${o.population.conversations.length}`);
  const targets = o.population.conversations.slice(0, o.streams);
  const states: StreamState[] = targets.map(() => ({ sentAt: 0, firstAt: 0, late: false, stamps: [], end: '', error: false }));
  // Replies start as fast as sendMessage allows (a ramp), so the first token of each is written on its own
  // pace, but the rest wait until every reply has written its first: then all N stream at once, each
  // shifted by a random fraction of the pace so that tokens arrive spread out, not in bursts of N.
  let firstTokens = 0;
  let release!: () => void;
  const everyoneStarted = new Promise<void>((resolve) => (release = resolve));
  o.fake.setBehaviour({
    tokens: Array.from({ length: o.tokens }, () => ''),
    tokenDelayMs: o.tokenDelayMs,
    firstTokenDelayMs: o.firstTokenDelayMs,
    renderToken: async (_token, index) => {
      if (index === 0 && ++firstTokens >= o.streams) release();
      if (index === 1) {
        await everyoneStarted;
        await sleep(Math.random() * o.tokenDelayMs);
      }
      return ` t=${nowMs().toFixed(3)}`;
    },
  });
  const loop = monitorEventLoopDelay({ resolution: 10 });
  const started = nowMs();
  let lastEventAt = Date.now();
  const clients: Client[] = [];
  try {
    // One socket per subscriber, as one browser tab per chat would hold.
    await pool(targets.length, 50, async (i) => {
      const client = wsClient(o.gatewayUrl, targets[i].user.token);
      clients.push(client);
      // Connected (acknowledged), or refused: either way this socket's fate is known.
      const connected = new Promise<void>((resolve) => {
        client.on('connected', () => resolve());
        client.on('closed', () => resolve());
      });
      const state = states[i];
      client.subscribe<{ conversationEvents: { kind: string; delta: string | null; sequence: number | null } }>(
        { query: SUBSCRIPTION, variables: { id: targets[i].id } },
        {
          next: (result) => {
            const received = nowMs();
            lastEventAt = Date.now();
            const event = result.data?.conversationEvents;
            if (!event) return void (state.error = true);
            if (event.kind === 'REPLY_DELTA') {
              if (!state.firstAt) {
                state.firstAt = received;
                state.late = (event.sequence ?? 0) > 0; // a catch-up of text written before we listened
              }
              if (state.late) return;
              for (const match of (event.delta ?? '').matchAll(STAMP)) state.stamps.push([Number(match[1]), received]);
            } else if (TERMINAL.has(event.kind)) {
              state.end = event.kind;
            }
          },
          error: () => void (state.error = true),
          complete: () => undefined,
        },
      );
      await connected;
    });
    await sleep(200 + 2 * targets.length); // let each subscription reach the messages subgraph before the first send
    loop.enable();
    const sendTimes = await pool(targets.length, o.sendConcurrency, async (i) => {
      const before = nowMs();
      const res = await gql(o.gatewayUrl, SEND, { input: { conversationId: targets[i].id, content: `bench stream ${i} ${before}` } }, targets[i].user.token);
      states[i].sentAt = nowMs();
      if (!res.data?.sendMessage) states[i].error = true;
      return states[i].sentAt - before;
    });
    // A reply that never reached the provider must not hold the others back for long.
    setTimeout(release, 5_000).unref();
    // Until every reply ended, or nothing arrived for 20 s.
    while (states.some((s) => !s.end && !s.error) && Date.now() - lastEventAt < 20_000) await sleep(100);
    loop.disable();

    const live = states.filter((s) => s.stamps.length > 0);
    const windowStart = Math.max(...live.map((s) => s.stamps[0][0]));
    const windowEnd = Math.min(...live.map((s) => s.stamps[s.stamps.length - 1][0]));
    const all = states.flatMap((s) => s.stamps.map(([written, received]) => received - written));
    const steady = states.flatMap((s) => s.stamps.filter(([w]) => w >= windowStart && w <= windowEnd).map(([w, r]) => r - w));
    return {
      streams: o.streams,
      tokens: o.tokens,
      tokenDelayMs: o.tokenDelayMs,
      completed: states.filter((s) => s.end === 'REPLY_COMPLETED').length,
      failed: states.filter((s) => s.end !== 'REPLY_COMPLETED').length,
      lateJoins: states.filter((s) => s.late).length,
      stampsReceived: all.length,
      latencyMs: summarize(all),
      steadyLatencyMs: summarize(live.length === o.streams ? steady : []),
      steadyWindowMs: live.length === o.streams ? Math.max(0, windowEnd - windowStart) : 0,
      writtenPerSecond: windowEnd > windowStart ? steady.length / ((windowEnd - windowStart) / 1000) : 0,
      timeline: timeline(states, windowStart),
      ttftAddedMs: summarize(states.filter((s) => s.firstAt && !s.late).map((s) => s.firstAt - s.sentAt - o.firstTokenDelayMs)),
      sendMs: summarize(sendTimes),
      clientLoopDelayP99Ms: loop.percentile(99) / 1e6,
      durationMs: nowMs() - started,
    };
  } finally {
    loop.disable();
    await Promise.all(clients.map((client) => client.dispose()));
  }
}

/** Latency per second of write time since `from`. */
function timeline(states: StreamState[], from: number): StreamResult['timeline'] {
  const buckets: number[][] = [];
  for (const s of states) {
    for (const [written, received] of s.stamps) {
      if (written < from) continue;
      (buckets[Math.floor((written - from) / 1000)] ??= []).push(received - written);
    }
  }
  return Array.from(buckets, (values, second) => {
    const { n, p50, p99 } = summarize(values ?? []);
    return { second, n, p50, p99 };
  });
}
