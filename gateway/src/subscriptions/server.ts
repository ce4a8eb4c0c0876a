/**
 * The gateway's subscription server: one runner (runner.ts) shared by three transports beside it,
 * graphql-ws on the GraphQL path's upgrades (transports/ws.ts), Server-Sent Events at the stream
 * path (transports/sse.ts) and Apollo's multipart HTTP on POSTs to the GraphQL path that ask for
 * it (transports/multipart.ts).
 *
 * Subscriptions are planned against the current supergraph and executed through subgraph
 * WebSockets (primary fetch) plus `executeQueryPlan` (everything else). Queries and mutations
 * sent over a stream go to the optional `executeOperation` hook or are refused.
 */
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { DEFAULT_STREAM_PATH, DEFAULT_SUBSCRIPTION_PATH } from './protocol';
import { createOperationRunner, type OperationRunnerOptions } from './runner';
import { createMultipartTransport } from './transports/multipart';
import { createSseTransport } from './transports/sse';
import { attachWsTransport } from './transports/ws';

export { CLIENT_CLOSE_GRACE_MS } from './transports/ws';

/** Options of {@link attachSubscriptionServer}: its HTTP server and socket timings, plus those of each part. */
export interface AttachSubscriptionServerOptions extends OperationRunnerOptions {
  /** The gateway's HTTP server; WebSocket upgrades on `path` are taken over. */
  readonly httpServer: HttpServer;
  /** Upgrade path, and the path of multipart POSTs (default `/graphql`). */
  readonly path?: string;
  /** Path of the Server-Sent Events endpoint (default `/graphql/stream`). */
  readonly streamPath?: string;
  /** graphql-ws `connectionInitWaitTimeout` (ms). */
  readonly connectionInitWaitTimeoutMs?: number;
  /** Ping interval for client sockets (ms). */
  readonly keepAliveMs?: number;
  /** Interval of multipart heartbeats (ms). */
  readonly multipartHeartbeatMs?: number;
}

/** A running subscription server. */
export interface SubscriptionServer {
  /**
   * Serves a request if it is one of the HTTP transports' (an SSE request at the stream path, a
   * multipart subscription POST); false to leave it to the rest of the gateway.
   */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  /** Closes all client sockets (1001) and streams, their upstream sockets, and stops handling upgrades. */
  close(): Promise<void>;
}

/** Attaches the subscription transports to `httpServer`. */
export function attachSubscriptionServer(options: AttachSubscriptionServerOptions): SubscriptionServer {
  const runner = createOperationRunner(options);
  const closeWs = attachWsTransport(runner, {
    httpServer: options.httpServer,
    path: options.path ?? DEFAULT_SUBSCRIPTION_PATH,
    connectionInitWaitTimeoutMs: options.connectionInitWaitTimeoutMs,
    keepAliveMs: options.keepAliveMs,
    socketLimits: options.socketLimits,
  });
  const sse = createSseTransport(runner, { path: options.streamPath ?? DEFAULT_STREAM_PATH });
  const multipart = createMultipartTransport(runner, { path: options.path ?? DEFAULT_SUBSCRIPTION_PATH, heartbeatMs: options.multipartHeartbeatMs });

  let closing: Promise<void> | undefined;
  return {
    handle: (req, res) => sse.handle(req, res) || multipart.handle(req, res),
    close() {
      closing ??= (async () => {
        await Promise.all([closeWs(), sse.close(), multipart.close()]);
        await runner.dispose();
      })();
      return closing;
    },
  };
}
