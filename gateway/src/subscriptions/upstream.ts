/**
 * graphql-ws clients to subgraphs: one lazily-connected upstream socket per
 * (client connection, subgraph URL), carrying the caller's authorization and the gateway's
 * service token for that subgraph in `connection_init`. Upstream sockets are never retried silently: a lost subgraph
 * surfaces as a GraphQL error on every subscription that used it.
 */
import WebSocket from 'ws';
import { GraphQLError } from 'graphql';
import { CloseCode, createClient, type Client, type FormattedExecutionResult } from 'graphql-ws';
import { context, propagation } from '@opentelemetry/api';
import { contractError, ErrorCode } from '@chat/shared/errors';
import { SERVICE_TOKEN_PARAM } from '@chat/shared/service-auth';
import { TOKEN_EXPIRED_REASON } from '@chat/shared/socket-limits';
import {
  AUTHORIZATION_PARAM,
  DEFAULT_UPSTREAM_ACK_TIMEOUT_MS,
  SubscriptionErrorCode,
  UPSTREAM_RETRY_ATTEMPTS,
} from './protocol';

/** What to subscribe to upstream (the primary fetch of a subscription plan). */
export interface UpstreamRequest {
  /** Subgraph name, used in error extensions. */
  readonly serviceName: string;
  /** ws:// or wss:// URL of the subgraph. */
  readonly url: string;
  /** The primary fetch's subscription operation text. */
  readonly query: string;
  /** Operation name of the primary fetch, if any. */
  readonly operationName?: string;
  /** Variables used by the primary fetch. */
  readonly variables: Record<string, unknown>;
}

/** Receives upstream results; exactly one of `error` / `complete` ends the stream. */
export interface UpstreamSink {
  /** One upstream `next` payload. */
  next(result: FormattedExecutionResult<Record<string, unknown>, unknown>): void;
  /** Upstream failed (error message, socket closed, connection refused, ack timeout). */
  error(errors: readonly GraphQLError[]): void;
  /** Upstream completed the subscription. */
  complete(): void;
}

/** Upstream graphql-ws clients belonging to one downstream client connection. */
export interface UpstreamPool {
  /** Starts an upstream subscription; the returned function stops it (sends `complete` upstream). */
  subscribe(request: UpstreamRequest, sink: UpstreamSink): () => void;
  /** Closes every upstream socket of this pool; later subscribes fail immediately. */
  dispose(): Promise<void>;
}

/** Options for {@link createUpstreamPool}. */
export interface UpstreamPoolOptions {
  /** Forwarded as `connection_init` payload `{ authorization }` when set. */
  readonly authorization?: string;
  /** Signs each connection: its token for the subgraph goes in the `connection_init` payload as `serviceToken` (fresh on every connect). */
  readonly serviceToken?: (subgraph: string) => Promise<string>;
  /** Fail if the subgraph does not `connection_ack` within this many ms. */
  readonly ackTimeoutMs?: number;
  /** Interval of graphql-ws pings to the subgraph (ms); 0 disables. */
  readonly keepAliveMs?: number;
}

/** The active W3C trace context as a string map (empty without tracing). */
function activeTrace(): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier;
}

/** Converts a subgraph's http(s) URL to the ws(s) URL on the same host and path. */
export function toWebSocketUrl(httpUrl: string): string {
  const url = new URL(httpUrl);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  else if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new Error(`Unsupported subgraph URL scheme "${url.protocol}" in ${httpUrl}`);
  }
  return url.toString();
}

/** Creates the upstream pool for one downstream client connection. */
export function createUpstreamPool(options: UpstreamPoolOptions = {}): UpstreamPool {
  const clients = new Map<string, Client>();
  let disposed = false;

  const clientFor = (url: string, serviceName: string): Client => {
    let client = clients.get(url);
    if (!client) {
      client = createUpstreamClient(url, options, serviceName);
      clients.set(url, client);
    }
    return client;
  };

  return {
    subscribe(request, sink) {
      if (disposed) {
        sink.error([upstreamClosedError(request.serviceName, 'the client connection is closing')]);
        return () => {};
      }
      return clientFor(request.url, request.serviceName).subscribe(
        // The active trace (the subscription's start) travels in the subscribe message's extensions.
        { query: request.query, operationName: request.operationName, variables: request.variables, extensions: { trace: activeTrace() } },
        {
          next: (result) => sink.next(result),
          error: (failure) => sink.error(toUpstreamErrors(request.serviceName, failure)),
          complete: () => sink.complete(),
        },
      );
    },
    async dispose() {
      disposed = true;
      const all = [...clients.values()];
      clients.clear();
      await Promise.all(
        all.map(async (client) => {
          client.terminate();
          await Promise.resolve(client.dispose()).catch(() => undefined);
        }),
      );
    },
  };
}

/** Creates one graphql-ws client to subgraph `serviceName`: lazy, no retries, ack timeout, authorization and service token in connection_init. */
export function createUpstreamClient(url: string, options: UpstreamPoolOptions = {}, serviceName = ''): Client {
  const { authorization, serviceToken } = options;
  return createClient({
    url,
    webSocketImpl: UpstreamWebSocket,
    lazy: true,
    lazyCloseTimeout: 0,
    retryAttempts: UPSTREAM_RETRY_ATTEMPTS,
    shouldRetry: () => false,
    connectionAckWaitTimeout: options.ackTimeoutMs ?? DEFAULT_UPSTREAM_ACK_TIMEOUT_MS,
    keepAlive: options.keepAliveMs ?? 0,
    // A function: the client reconnects lazily after its last subscription ended, and each connect needs a token still valid.
    connectionParams: async () => ({
      ...(authorization ? { [AUTHORIZATION_PARAM]: authorization } : {}),
      ...(serviceToken ? { [SERVICE_TOKEN_PARAM]: await serviceToken(serviceName) } : {}),
    }),
  });
}

/**
 * `ws` WebSocket that never throws an unhandled 'error' event: graphql-ws detaches its
 * `onerror` handler when it terminates a socket, and `ws` emits 'error' when a socket is
 * closed while still connecting. Failures still reach graphql-ws through `onclose`.
 */
class UpstreamWebSocket extends WebSocket {
  constructor(address: string | URL, protocols?: string | string[]) {
    super(address, protocols);
    this.on('error', () => undefined);
  }
}

/** Maps what a graphql-ws client sink's `error` receives to GraphQL errors. */
export function toUpstreamErrors(serviceName: string, failure: unknown): GraphQLError[] {
  if (Array.isArray(failure)) {
    const errors = failure.filter(
      (e): e is { message: string; extensions?: Record<string, unknown> } => typeof e?.message === 'string',
    );
    if (errors.length > 0) {
      return errors.map(
        (e) =>
          new GraphQLError(e.message, {
            extensions: { code: SubscriptionErrorCode.UpstreamError, ...e.extensions, serviceName },
          }),
      );
    }
  }
  // The subgraph's expiry timer can fire before the gateway's own: the user's token ended, nothing failed.
  if (isCloseEventLike(failure) && failure.code === CloseCode.Forbidden && failure.reason === TOKEN_EXPIRED_REASON) {
    return [contractError(ErrorCode.UNAUTHENTICATED, TOKEN_EXPIRED_REASON, { serviceName })];
  }
  if (isCloseEventLike(failure)) {
    const reason = failure.reason ? `: ${failure.reason}` : '';
    return [upstreamClosedError(serviceName, `socket closed with code ${failure.code}${reason}`, failure.code)];
  }
  const message =
    failure instanceof Error
      ? failure.message
      : typeof (failure as { message?: unknown })?.message === 'string'
        ? (failure as { message: string }).message
        : String(failure);
  return [upstreamClosedError(serviceName, message || 'connection failed')];
}

/**
 * The error that ends a client subscription whose upstream went away: the contract's
 * INTERNAL_SERVER_ERROR, retryable, with the subscription layer's reason; the detail (an address,
 * a close reason) stays out of the message, which clients see.
 */
export function upstreamClosedError(serviceName: string, detail: string, closeCode?: number): GraphQLError {
  return new GraphQLError(`The live stream from the ${serviceName} service ended unexpectedly; subscribe again to catch up.`, {
    extensions: {
      code: ErrorCode.INTERNAL_SERVER_ERROR,
      reason: SubscriptionErrorCode.UpstreamClosed,
      retryable: true,
      serviceName,
      ...(closeCode === undefined ? {} : { closeCode }),
    },
    originalError: new Error(detail),
  });
}

/** Whether a value looks like a WebSocket CloseEvent. */
function isCloseEventLike(value: unknown): value is { code: number; reason?: string } {
  return typeof value === 'object' && value !== null && typeof (value as { code?: unknown }).code === 'number' && 'reason' in value;
}
