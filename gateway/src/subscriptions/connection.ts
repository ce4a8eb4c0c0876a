/**
 * Per-connection state of the graphql-ws server, from `connection_init` to the socket's close:
 * authentication, the per-user socket quota, the token-expiry timer, the revoked-session check,
 * the connection and subscription gauges, the per-socket subscription quota and the connection's
 * upstream pool.
 */
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import type { Context } from 'graphql-ws';
import type { GraphQLError } from 'graphql';
import { closeAtExpiry, subscriptionQuotaRefusal } from '@chat/shared/socket-limits';
import { clientAddressResolver, type ClientAddressOf } from '../client-address';
import { SESSION_REVOKED_REASON, type SessionRevocations } from '../revocations';
import { CloseCode } from './protocol';
import { createUpstreamPool, type UpstreamPool } from './upstream';

export { SUBSCRIPTION_QUOTA_RETRY_AFTER_SECONDS } from '@chat/shared/socket-limits';

/** Result of authenticating a connection's `connection_init` payload. */
export interface SubscriptionAuth {
  /** Forwarded to subgraphs: `connection_init` `{ authorization }` upstream and the `authorization` header of entity fetches. */
  readonly authorization?: string;
  /** Application-level identity, handed to data sources and `executeOperation` in the context. */
  readonly viewer?: unknown;
  /** Counts this user's sockets against `socketLimits.maxConnectionsPerUser`. */
  readonly userKey?: string;
  /** When the credentials expire (ms since the epoch): the socket is closed with 4403 then. */
  readonly expiresAt?: number;
  /** The session the credentials belong to: the socket is closed with 4403 once it is revoked. */
  readonly sessionId?: string;
}

/** Something counting what is open now. */
export interface OpenCount {
  inc(): void;
  dec(amount?: number): void;
}

/** Limits on graphql-ws use, per socket and per user. */
export interface SocketLimits {
  maxSubscriptionsPerConnection: number;
  maxConnectionsPerUser: number;
  /** Larger messages close the socket with 1009 (message too big). */
  maxMessageBytes: number;
}

/** How connections are accepted and accounted for. */
export interface ConnectionOptions {
  /** Checks a connection's `connection_init` payload; throw (or reject) to refuse with 4403. */
  readonly authenticate: (connectionParams: Readonly<Record<string, unknown>> | undefined) => Promise<SubscriptionAuth>;
  /** The client's address from the upgrade request (default: the socket's peer). */
  readonly clientAddress?: ClientAddressOf;
  /** Socket limits (default: none): open subscriptions per socket, sockets per user, bytes per message. */
  readonly socketLimits?: SocketLimits;
  /** Counts the open connections and subscriptions (Prometheus gauges). */
  readonly gauges?: { readonly connections: OpenCount; readonly subscriptions: OpenCount };
  /** Upstream `connection_ack` timeout (ms). */
  readonly upstreamAckTimeoutMs?: number;
  /** The gateway's service token for a subgraph, sent in each upstream `connection_init` (subgraphs refuse sockets without one). */
  readonly upstreamServiceToken?: (subgraph: string) => Promise<string>;
  /** Revoked sessions: a socket of one is refused, and closed with 4403 when its session is revoked while it is open. */
  readonly revocations?: SessionRevocations;
}

/** Per-connection state, created by a successful `connection_init`. */
export interface ConnectionState {
  readonly auth: SubscriptionAuth;
  readonly upstream: UpstreamPool;
  readonly connectionParams?: Readonly<Record<string, unknown>>;
  /** Where the client connects from (see `ConnectionOptions.clientAddress`). */
  readonly clientAddress?: string;
  /** Ids of the subscriptions open on this socket. */
  readonly subscriptions: Set<string>;
  /** Closes the socket when its credentials expire. */
  readonly expiry?: NodeJS.Timeout;
}

/** The open connections of one graphql-ws server, driven by its callbacks. */
export interface Connections {
  /** graphql-ws `onConnect`: accepts the connection (true) or refuses it (false: 4403). */
  open(ctx: Context): Promise<boolean>;
  /** graphql-ws `onClose`: forgets the connection and closes its upstream sockets. */
  close(ctx: Context): Promise<void>;
  /** The state of an accepted connection. */
  get(ctx: Context): ConnectionState | undefined;
  /** The refusal (RATE_LIMITED) of one more subscription on `connection`, or undefined. */
  subscriptionRefusal(connection: ConnectionState): GraphQLError | undefined;
  /** Subscription `id` is open on `connection`. */
  subscribed(connection: ConnectionState, id: string): void;
  /** Subscription `id` ended (completed, failed or stopped by the client). */
  unsubscribed(connection: ConnectionState | undefined, id: string): void;
  /** Forgets every connection and closes their upstream sockets (on shutdown). */
  disposeAll(): Promise<void>;
}

/** graphql-ws's `extra` with its `ws` adapter. */
interface SocketExtra {
  readonly socket: WebSocket;
  readonly request: IncomingMessage;
}

/** Context handed to data sources for a connection's operations: who asks, and from where. */
export function connectionContext(connection: ConnectionState): Record<string, unknown> {
  return { authorization: connection.auth.authorization, viewer: connection.auth.viewer, clientAddress: connection.clientAddress };
}

/** The connection registry of one graphql-ws server. */
export function createConnections(options: ConnectionOptions): Connections {
  const connections = new Map<Context, ConnectionState>();
  const socketsPerUser = new Map<string, number>();
  const addressOf = options.clientAddress ?? clientAddressResolver(false);
  const { gauges, socketLimits, revocations } = options;

  /** Takes one of the user's sockets; false when they hold all they may. */
  const takeUserSocket = (userKey: string | undefined): boolean => {
    const limit = socketLimits?.maxConnectionsPerUser;
    if (limit === undefined || userKey === undefined) return true;
    const open = socketsPerUser.get(userKey) ?? 0;
    if (open >= limit) return false;
    socketsPerUser.set(userKey, open + 1);
    return true;
  };
  const releaseUserSocket = (userKey: string | undefined): void => {
    if (userKey === undefined || !socketsPerUser.has(userKey)) return;
    const left = (socketsPerUser.get(userKey) ?? 1) - 1;
    if (left > 0) socketsPerUser.set(userKey, left);
    else socketsPerUser.delete(userKey);
  };

  // A socket whose session is revoked ends, as one whose token expires does, with 4403.
  const stopWatchingRevocations = revocations?.onRevoked((sessionIds) => {
    for (const [ctx, { auth }] of connections) {
      if (auth.sessionId !== undefined && sessionIds.has(auth.sessionId)) (ctx.extra as SocketExtra).socket.close(CloseCode.Forbidden, SESSION_REVOKED_REASON);
    }
  });

  return {
    async open(ctx) {
      let auth: SubscriptionAuth | undefined;
      try {
        auth = await options.authenticate(ctx.connectionParams);
      } catch {
        return false; // graphql-ws closes with 4403 Forbidden
      }
      if (!auth) return false;
      const { socket, request } = ctx.extra as SocketExtra;
      // Closed while `authenticate` ran: graphql-ws has called onClose already, so nothing may be counted or kept.
      if (socket.readyState !== socket.OPEN) return false;
      // Revoked while `authenticate` ran: no word of it will come again, so it is refused here.
      if (revocations?.isRevoked(auth.sessionId)) return false;
      if (!takeUserSocket(auth.userKey)) {
        socket.close(CloseCode.Forbidden, `Forbidden: at most ${socketLimits?.maxConnectionsPerUser} open connections per user`);
        return false;
      }
      // A token that expires while the socket is open ends it at that moment, with 4403.
      const expiry = auth.expiresAt === undefined ? undefined : closeAtExpiry(socket, auth.expiresAt);
      const upstream = createUpstreamPool({ authorization: auth.authorization, serviceToken: options.upstreamServiceToken, ackTimeoutMs: options.upstreamAckTimeoutMs });
      connections.set(ctx, { auth, upstream, connectionParams: ctx.connectionParams, clientAddress: addressOf(request), subscriptions: new Set(), expiry });
      gauges?.connections.inc();
      return true;
    },
    async close(ctx) {
      const connection = connections.get(ctx);
      if (!connection) return;
      connections.delete(ctx);
      gauges?.connections.dec();
      if (connection.subscriptions.size > 0) gauges?.subscriptions.dec(connection.subscriptions.size);
      connection.subscriptions.clear();
      clearTimeout(connection.expiry);
      releaseUserSocket(connection.auth.userKey);
      await connection.upstream.dispose();
    },
    get: (ctx) => connections.get(ctx),
    subscriptionRefusal(connection) {
      const max = socketLimits?.maxSubscriptionsPerConnection;
      if (max === undefined || connection.subscriptions.size < max) return undefined;
      return subscriptionQuotaRefusal(max);
    },
    subscribed(connection, id) {
      connection.subscriptions.add(id);
      gauges?.subscriptions.inc();
    },
    unsubscribed(connection, id) {
      if (connection?.subscriptions.delete(id)) gauges?.subscriptions.dec();
    },
    async disposeAll() {
      stopWatchingRevocations?.();
      const remaining = [...connections.values()];
      connections.clear();
      await Promise.all(remaining.map((connection) => connection.upstream.dispose()));
    },
  };
}
