/** A graphql-ws client for tests: collects a subscription's events until it ends or a predicate holds. */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

/** A client connected to `url` (http or ws form) with the caller's token in connection_init. */
export function wsClient(url: string, token?: string, options: { onClose?: (code: number, reason: string) => void } = {}): Client {
  return createClient({
    url: url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
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
