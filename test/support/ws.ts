/** A graphql-ws client for tests: collects a subscription's events until it ends or a predicate holds. */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

/** How a test client connects: what it does on close, and (to a subgraph) the service token it presents. */
export interface WsClientOptions {
  onClose?: (code: number, reason: string) => void;
  /** A service token for `connection_init` (as the gateway sends one to a subgraph), made on each connect. */
  serviceToken?: () => Promise<string>;
}

/** A client connected to `url` (http or ws form) with the caller's token in connection_init. */
export function wsClient(url: string, token?: string, options: WsClientOptions = {}): Client {
  const { serviceToken } = options;
  return createClient({
    url: url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: async () => ({
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(serviceToken ? { serviceToken: await serviceToken() } : {}),
    }),
    retryAttempts: 0,
    lazy: true,
    on: { closed: (event) => options.onClose?.((event as { code: number }).code, String((event as { reason?: string }).reason ?? '')) },
  });
}

/** A subscription running in the background, with everything it received so far. */
export interface Collector<T> {
  events: T[];
  errors: unknown[];
  /** Resolves once `predicate` holds for the events (or rejects after `timeoutMs`). */
  until(predicate: (events: T[]) => boolean, timeoutMs?: number): Promise<T[]>;
  done: Promise<void>;
  stop(): void;
}

/** Subscribes and collects `data[field]` of each event. */
export function collect<T = any>(client: Client, query: string, variables: Record<string, unknown>, field: string): Collector<T> {
  const events: T[] = [];
  const errors: unknown[] = [];
  const waiters = new Set<() => void>();
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const notify = () => waiters.forEach((w) => w());
  const stop = client.subscribe<Record<string, T>>(
    { query, variables },
    {
      next: (result) => {
        if (result.errors) errors.push(...result.errors);
        if (result.data) events.push(result.data[field]);
        notify();
      },
      error: (error) => {
        errors.push(error);
        resolveDone();
        notify();
      },
      complete: () => {
        resolveDone();
        notify();
      },
    },
  );
  return {
    events,
    errors,
    done,
    stop,
    until(predicate, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (predicate(events)) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(events);
          } else if (errors.length > 0) {
            waiters.delete(check);
            clearTimeout(timer);
            reject(new Error(`subscription failed: ${JSON.stringify(errors)}`));
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out; got ${JSON.stringify(events)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}

/** A socket speaking graphql-transport-ws by hand, for tests of what a server refuses. */
export interface RawSocket {
  socket: WebSocket;
  messages: any[];
  closed: Promise<{ code: number; reason: string }>;
  send(message: unknown): void;
  /** Resolves with the first message matching `predicate`. */
  next(predicate: (message: any) => boolean, timeoutMs?: number): Promise<any>;
}

/** Opens a socket and sends connection_init with `payload`; resolves once acknowledged or closed. */
export async function openRawSocket(url: string, payload: Record<string, unknown>): Promise<RawSocket> {
  const socket = new WebSocket(url.replace(/^http/, 'ws'), 'graphql-transport-ws');
  const messages: any[] = [];
  const waiters = new Set<() => void>();
  socket.on('message', (data) => {
    messages.push(JSON.parse(String(data)));
    waiters.forEach((w) => w());
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
  const next = (predicate: (message: any) => boolean, timeoutMs = 5_000) =>
    new Promise<any>((resolve, reject) => {
      const check = () => {
        const found = messages.find(predicate);
        if (found) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no such message; got ${JSON.stringify(messages)}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  const raw: RawSocket = { socket, messages, closed, next, send: (message) => socket.send(JSON.stringify(message)) };
  raw.send({ type: 'connection_init', payload });
  await Promise.race([next((m) => m.type === 'connection_ack'), closed]);
  return raw;
}
