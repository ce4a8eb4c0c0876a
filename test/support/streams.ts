/** Clients of the gateway's HTTP subscription transports for tests: graphql-sse's own client, and a collector for any `subscribe(payload, sink)` client. */
import { createClient, type Client as SseClient } from 'graphql-sse';

/** How a test's SSE client connects. */
export interface SseClientOptions {
  /** Single connection mode (a reserved stream) instead of one event stream per operation. */
  singleConnection?: boolean;
  /** More headers for each request (e.g. Last-Event-ID), computed at each connect. */
  headers?: () => Record<string, string>;
  /** Reconnections the client may make (default none). */
  retryAttempts?: number;
}

/** A graphql-sse client to the gateway's stream endpoint, sending `Authorization: Bearer <token>`. */
export function sseClient(gatewayUrl: string, token: string | undefined, options: SseClientOptions = {}): SseClient {
  return createClient({
    url: `${gatewayUrl}/stream`,
    singleConnection: options.singleConnection ?? false,
    headers: () => ({ ...(token ? { authorization: `Bearer ${token}` } : {}), ...options.headers?.() }),
    retryAttempts: options.retryAttempts ?? 0,
    retry: async () => undefined,
  }) as SseClient;
}

/** A client with graphql-ws's and graphql-sse's `subscribe(payload, sink)` shape. */
export interface SubscribingClient {
  subscribe(payload: { query: string; variables?: Record<string, unknown> }, sink: { next(value: any): void; error(error: unknown): void; complete(): void }): () => void;
}

/** A subscription running in the background: every result, its errors, and how it ended. */
export interface Stream<T> {
  /** `data[field]` of each result with data. */
  events: T[];
  /** GraphQL errors of results, and what `error` received. */
  errors: any[];
  /** Resolves when the subscription completes or fails. */
  done: Promise<void>;
  /** Resolves once `predicate` holds for the events (rejects after `timeoutMs`, or when the stream ends first). */
  until(predicate: (events: T[]) => boolean, timeoutMs?: number): Promise<T[]>;
  stop(): void;
}

/** Subscribes with `client` and collects `data[field]` of each result. */
export function stream<T = any>(client: SubscribingClient, query: string, variables: Record<string, unknown>, field: string): Stream<T> {
  const events: T[] = [];
  const errors: any[] = [];
  const waiters = new Set<() => void>();
  let ended = false;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const notify = () => waiters.forEach((w) => w());
  const end = () => {
    ended = true;
    resolveDone();
    notify();
  };
  const stop = client.subscribe(
    { query, variables },
    {
      next: (result: { data?: Record<string, T> | null; errors?: unknown[] }) => {
        if (result.errors) errors.push(...result.errors);
        if (result.data) events.push(result.data[field]);
        notify();
      },
      error: (error) => {
        errors.push(error);
        end();
      },
      complete: end,
    },
  );
  return {
    events,
    errors,
    done,
    stop,
    until(predicate, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (predicate(events)) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(events);
          } else if (ended) {
            waiters.delete(check);
            clearTimeout(timer);
            reject(new Error(`the stream ended first: ${JSON.stringify({ events, errors })}`));
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out; got ${JSON.stringify({ events, errors })}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}
