/**
 * Idle subscriptions: opens N `conversationEvents` subscriptions against a gateway process of its
 * own, samples that process's memory (after a full GC) before and after, and proves every
 * subscription alive by delivering one event to each, once right after opening and once after
 * holding them idle.
 */
import type { Client } from 'graphql-ws';
import type { FakeLlmServer } from '../../test/support/fake-llm';
import { wsClient } from '../../test/support/ws';
import type { MemorySample } from './child';
import { gql, nowMs, pool, SEND, sleep, type Population } from './common';
import type { ChildService } from './system';

/** How the subscriptions are opened and held. */
export interface IdleOptions {
  gateway: ChildService;
  /** The subgraphs' process, whose memory is sampled too (it holds the upstream end of each subscription). */
  subgraphs: ChildService;
  fake: FakeLlmServer;
  population: Population;
  subscriptions: number;
  /** Subscriptions per graphql-ws socket (each socket belongs to one user and watches that user's conversation). */
  perSocket: number;
  holdMs: number;
}

/** What holding them cost and whether they all stayed open. */
export interface IdleResult {
  subscriptions: number;
  sockets: number;
  perSocket: number;
  openMs: number;
  /** Subscriptions reached by a liveness event right after opening (see `liveness`). */
  aliveAtOpen: number;
  /** Subscriptions reached again after `holdMs` idle. */
  aliveAfterHold: number;
  /** Sockets that closed and subscriptions that errored while held (should be 0). */
  socketsClosed: number;
  subscriptionErrors: number;
  holdMs: number;
  gateway: { before: MemorySample; after: MemorySample; bytesPerSubscription: MemorySample };
  subgraphs: { before: MemorySample; after: MemorySample; bytesPerSubscription: MemorySample };
}

const SUBSCRIPTION = `subscription($id: ID!) { conversationEvents(conversationId: $id) { kind messageId } }`;

/** Opens, checks, holds and checks again; closes everything before returning. */
export async function measureIdle(o: IdleOptions): Promise<IdleResult> {
  const users = o.population.users.length;
  const sockets = Math.ceil(o.subscriptions / o.perSocket);
  // The first `users` conversations belong to distinct users (conversation i is user i % users's).
  const conversationOf = (socket: number) => o.population.conversations[socket % users];
  const seen: Array<Set<string>> = Array.from({ length: o.subscriptions }, () => new Set());
  let socketsClosed = 0;
  let subscriptionErrors = 0;
  let holding = false;
  const clients: Client[] = [];
  o.fake.setBehaviour({ tokens: ['ok'], tokenDelayMs: 0, firstTokenDelayMs: 0, renderToken: undefined });

  const open = async (socket: number, subscriptions: number[], track: boolean) => {
    const conversation = conversationOf(socket);
    const client = wsClient(o.gateway.gatewayUrl, conversation.user.token, { onClose: () => void (holding && track && socketsClosed++) });
    clients.push(client);
    const connected = new Promise<void>((resolve) => {
      client.on('connected', () => resolve());
      client.on('closed', () => resolve());
    });
    for (const i of subscriptions) {
      client.subscribe<{ conversationEvents: { kind: string; messageId: string } }>(
        { query: SUBSCRIPTION, variables: { id: conversation.id } },
        {
          next: (result) => {
            const event = result.data?.conversationEvents;
            if (track && event?.kind === 'MESSAGE_CREATED') seen[i].add(event.messageId);
          },
          error: () => void (track && subscriptionErrors++),
          complete: () => void (track && holding && subscriptionErrors++),
        },
      );
    }
    await connected;
    return client;
  };

  /**
   * Sends one message into each watched conversation and counts the subscriptions that got its
   * MESSAGE_CREATED. A subscription still being set up when the message went out misses it, so
   * conversations with a subscription not yet reached get another message, up to three in all.
   */
  const watched = o.population.conversations.slice(0, Math.min(users, sockets));
  const conversationIndex = (subscription: number) => Math.floor(subscription / o.perSocket) % users;
  const liveness = async (): Promise<number> => {
    const sent: string[][] = watched.map(() => []);
    const reached = (i: number) => sent[conversationIndex(i)].some((id) => seen[i].has(id));
    const countReached = () => seen.reduce((n, _, i) => n + (reached(i) ? 1 : 0), 0);
    for (let attempt = 0; attempt < 3 && countReached() < o.subscriptions; attempt += 1) {
      const missing = [...new Set(seen.flatMap((_, i) => (reached(i) ? [] : [conversationIndex(i)])))];
      await pool(missing.length, 16, async (k) => {
        const conversation = watched[missing[k]];
        const res = await gql(o.gateway.gatewayUrl, SEND, { input: { conversationId: conversation.id, content: `idle check ${nowMs()}` } }, conversation.user.token);
        const id = res.data?.sendMessage?.message?.id as string | undefined;
        if (id) sent[missing[k]].push(id);
      });
      const deadline = Date.now() + 5_000 + o.subscriptions * 2;
      while (countReached() < o.subscriptions && Date.now() < deadline) await sleep(50);
    }
    return countReached();
  };

  try {
    // Warm-up: the first subscriptions pay for lazy set-up (query plan caches, JIT) that is not per subscription.
    const warm = await Promise.all([0, 1, 2, 3, 4].map((socket) => open(socket, [0], false)));
    await sleep(250);
    await Promise.all(warm.map((client) => client.dispose()));
    clients.length = 0;
    await sleep(250);
    const gatewayBefore = await o.gateway.memory();
    const subgraphsBefore = await o.subgraphs.memory();

    const started = nowMs();
    await pool(sockets, 50, (socket) => {
      const first = socket * o.perSocket;
      const mine = Array.from({ length: Math.min(o.perSocket, o.subscriptions - first) }, (_, k) => first + k);
      return open(socket, mine, true);
    });
    const openMs = nowMs() - started;
    holding = true;
    const aliveAtOpen = await liveness();
    await sleep(o.holdMs);
    const gatewayAfter = await o.gateway.memory();
    const subgraphsAfter = await o.subgraphs.memory();
    const aliveAfterHold = await liveness();
    holding = false;

    const per = (before: MemorySample, after: MemorySample): MemorySample => ({
      rss: (after.rss - before.rss) / o.subscriptions,
      heapUsed: (after.heapUsed - before.heapUsed) / o.subscriptions,
      external: (after.external - before.external) / o.subscriptions,
    });
    return {
      subscriptions: o.subscriptions,
      sockets,
      perSocket: o.perSocket,
      openMs,
      aliveAtOpen,
      aliveAfterHold,
      socketsClosed,
      subscriptionErrors,
      holdMs: o.holdMs,
      gateway: { before: gatewayBefore, after: gatewayAfter, bytesPerSubscription: per(gatewayBefore, gatewayAfter) },
      subgraphs: { before: subgraphsBefore, after: subgraphsAfter, bytesPerSubscription: per(subgraphsBefore, subgraphsAfter) },
    };
  } finally {
    holding = false;
    await Promise.all(clients.map((client) => client.dispose()));
  }
}
