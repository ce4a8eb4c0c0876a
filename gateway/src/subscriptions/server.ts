/**
 * Serves graphql-ws (graphql-transport-ws) on the gateway's HTTP server, wiring the parts into
 * graphql-ws's `useServer`: upgrades (upgrade.ts), connections (connection.ts), preparing
 * operations (operation.ts) and running them (dispatch.ts).
 *
 * Subscriptions are planned against the current supergraph and executed through subgraph
 * WebSockets (primary fetch) plus `executeQueryPlan` (everything else). Queries and mutations
 * over the socket go to the optional `executeOperation` hook or are refused. graphql-ws owns the
 * protocol close codes (4400, 4401, 4403, 4408, 4409, 4429); a rejected `authenticate` maps to
 * 4403 by returning `false` from `onConnect`, as the library specifies.
 */
import type { Server as HttpServer } from 'node:http';
import { WebSocketServer } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
import { contractError, ErrorCode } from '@chat/shared/errors';
import { createConnections, type ConnectionOptions } from './connection';
import { createDispatcher, formatTerminalErrors, outgoingResult, type DispatchOptions } from './dispatch';
import { createOperationPreparer, type SupergraphOptions } from './operation';
import { DEFAULT_CLIENT_KEEP_ALIVE_MS, DEFAULT_CONNECTION_INIT_WAIT_TIMEOUT_MS, DEFAULT_SUBSCRIPTION_PATH, GOING_AWAY_CLOSE_CODE } from './protocol';
import { routeUpgrades } from './upgrade';

/** How long `close()` waits for clients to finish the close handshake before terminating their sockets (ms). */
export const CLIENT_CLOSE_GRACE_MS = 2_000;

/** Options of {@link attachSubscriptionServer}: its HTTP server and socket timings, plus those of each part. */
export interface AttachSubscriptionServerOptions extends ConnectionOptions, SupergraphOptions, DispatchOptions {
  /** The gateway's HTTP server; WebSocket upgrades on `path` are taken over. */
  readonly httpServer: HttpServer;
  /** Upgrade path (default `/graphql`). */
  readonly path?: string;
  /** graphql-ws `connectionInitWaitTimeout` (ms). */
  readonly connectionInitWaitTimeoutMs?: number;
  /** Ping interval for client sockets (ms). */
  readonly keepAliveMs?: number;
}

/** A running subscription server. */
export interface SubscriptionServer {
  /** Closes all client sockets (1001), their upstream sockets, and stops handling upgrades. */
  close(): Promise<void>;
}

/** Attaches a graphql-ws server for federated subscriptions to `httpServer` at `path`. */
export function attachSubscriptionServer(options: AttachSubscriptionServerOptions): SubscriptionServer {
  const connections = createConnections(options);
  const prepare = createOperationPreparer(options, options.executeOperation !== undefined);
  const dispatcher = createDispatcher(options);
  const wss = new WebSocketServer({ noServer: true, ...(options.socketLimits ? { maxPayload: options.socketLimits.maxMessageBytes } : {}) });
  const graphqlWs = useServer<Record<string, unknown>>(
    {
      connectionInitWaitTimeout: options.connectionInitWaitTimeoutMs ?? DEFAULT_CONNECTION_INIT_WAIT_TIMEOUT_MS,
      onConnect: (ctx) => connections.open(ctx),
      onClose: (ctx) => connections.close(ctx),
      onSubscribe(ctx, id, payload) {
        const connection = connections.get(ctx);
        if (!connection) return [contractError(ErrorCode.UNAUTHENTICATED, 'Connection is not initialised')];
        const refused = connections.subscriptionRefusal(connection);
        if (refused) return [refused];
        const prepared = prepare(connection, payload);
        if (!Array.isArray(prepared)) connections.subscribed(connection, id);
        return prepared;
      },
      onComplete: (ctx, id) => connections.unsubscribed(connections.get(ctx), id),
      subscribe: (args) => dispatcher.subscribe(args),
      execute: (args) => dispatcher.execute(args),
      onNext: (_ctx, _id, _payload, _args, result) => outgoingResult(result, options),
      onError: (ctx, id, _payload, errors) => {
        connections.unsubscribed(connections.get(ctx), id);
        return formatTerminalErrors(errors, options.formatError);
      },
    },
    wss,
    options.keepAliveMs ?? DEFAULT_CLIENT_KEEP_ALIVE_MS,
  );
  const stopUpgrades = routeUpgrades(options.httpServer, options.path ?? DEFAULT_SUBSCRIPTION_PATH, wss);

  let closing: Promise<void> | undefined;
  return {
    close() {
      closing ??= (async () => {
        stopUpgrades();
        const terminateStragglers = setTimeout(() => {
          for (const client of wss.clients) client.terminate();
        }, CLIENT_CLOSE_GRACE_MS);
        try {
          for (const client of wss.clients) client.close(GOING_AWAY_CLOSE_CODE, 'Going away');
          // Also closes the ws server once every client socket has finished closing.
          await graphqlWs.dispose();
        } finally {
          clearTimeout(terminateStragglers);
        }
        await connections.disposeAll();
      })();
      return closing;
    },
  };
}
