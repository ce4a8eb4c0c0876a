/**
 * graphql-ws (graphql-transport-ws) on the gateway's HTTP server: graphql-ws's `useServer` wired
 * to the shared runner. graphql-ws owns the protocol close codes (4400, 4401, 4403, 4408, 4409,
 * 4429); a rejected `authenticate` maps to 4403 by returning `false` from `onConnect`, as the
 * library specifies.
 */
import type { Server as HttpServer } from 'node:http';
import { WebSocketServer } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
import { contractError, ErrorCode } from '@chat/shared/errors';
import type { SocketLimits } from '../connection';
import { DEFAULT_CLIENT_KEEP_ALIVE_MS, DEFAULT_CONNECTION_INIT_WAIT_TIMEOUT_MS, GOING_AWAY_CLOSE_CODE } from '../protocol';
import type { OperationRunner } from '../runner';
import { routeUpgrades } from '../upgrade';

/** How long `close()` waits for clients to finish the close handshake before terminating their sockets (ms). */
export const CLIENT_CLOSE_GRACE_MS = 2_000;

/** Options of the graphql-ws transport. */
export interface WsTransportOptions {
  /** The gateway's HTTP server; WebSocket upgrades on `path` are taken over. */
  readonly httpServer: HttpServer;
  /** Upgrade path. */
  readonly path: string;
  /** graphql-ws `connectionInitWaitTimeout` (ms). */
  readonly connectionInitWaitTimeoutMs?: number;
  /** Ping interval for client sockets (ms). */
  readonly keepAliveMs?: number;
  /** Socket limits: `maxMessageBytes` bounds each message. */
  readonly socketLimits?: SocketLimits;
}

/** Serves graphql-ws through `runner`; the returned function closes every socket (1001) and stops upgrades. */
export function attachWsTransport(runner: OperationRunner, options: WsTransportOptions): () => Promise<void> {
  const { connections } = runner;
  const wss = new WebSocketServer({ noServer: true, ...(options.socketLimits ? { maxPayload: options.socketLimits.maxMessageBytes } : {}) });
  const graphqlWs = useServer<Record<string, unknown>>(
    {
      connectionInitWaitTimeout: options.connectionInitWaitTimeoutMs ?? DEFAULT_CONNECTION_INIT_WAIT_TIMEOUT_MS,
      onConnect: (ctx) => connections.open(ctx),
      onClose: (ctx) => connections.close(ctx),
      onSubscribe(ctx, id, payload) {
        const connection = connections.get(ctx);
        if (!connection) return [contractError(ErrorCode.UNAUTHENTICATED, 'Connection is not initialised')];
        return runner.prepare(connection, id, payload);
      },
      onComplete: (ctx, id) => runner.finished(connections.get(ctx), id),
      subscribe: (args) => runner.dispatcher.subscribe(args),
      execute: (args) => runner.dispatcher.execute(args),
      onNext: (_ctx, _id, _payload, _args, result) => runner.outgoing(result),
      onError: (ctx, id, _payload, errors) => {
        runner.finished(connections.get(ctx), id);
        return runner.terminalErrors(errors);
      },
    },
    wss,
    options.keepAliveMs ?? DEFAULT_CLIENT_KEEP_ALIVE_MS,
  );
  const stopUpgrades = routeUpgrades(options.httpServer, options.path, wss);
  return async () => {
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
  };
}
