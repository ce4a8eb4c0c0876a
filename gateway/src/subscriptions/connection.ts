/**
 * Per-connection state of every subscription transport (a graphql-ws socket, an SSE event stream,
 * a multipart response), from authentication to the close: the per-user connection quota, the
 * token-expiry timer, the revoked-session check, the connection and subscription gauges, the
 * per-connection subscription quota and the connection's upstream pool.
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

/** The transports a connection may come over (the label of its gauges). */
export type TransportName = 'ws' | 'sse' | 'multipart';

/** The transport side of one connection: where it comes from, whether it is still open, how to end it. */
export interface Peer {
  readonly transport: TransportName;
  /** The request that opened it (the upgrade, the event stream's or the multipart POST's). */
  readonly request: IncomingMessage;
  /** False once the client went away (e.g. while `authenticate` ran). */
  isOpen(): boolean;
  /** Ends the connection for `reason` (token expired, session revoked, quota); `code` is graphql-ws's close code. */
  close(code: number, reason: string): void;
}

/** The gauges of one transport. */
export interface TransportGauges {
  readonly connections: OpenCount;
  readonly subscriptions: OpenCount;
}

/** How connections are accepted and accounted for. */
export interface ConnectionOptions {
  /** Checks a connection's `connection_init` payload; throw (or reject) to refuse with 4403. */
  readonly authenticate: (connectionParams: Readonly<Record<string, unknown>> | undefined) => Promise<SubscriptionAuth>;
  /** The client's address from the upgrade request (default: the socket's peer). */
  readonly clientAddress?: ClientAddressOf;
  /** Socket limits (default: none): open subscriptions per socket, sockets per user, bytes per message. */
  readonly socketLimits?: SocketLimits;
  /** Counts the open connections and subscriptions (Prometheus gauges); graphql-ws's, and every transport's unless `gaugesOf` says. */
  readonly gauges?: TransportGauges;
  /** The gauges of a transport other than graphql-ws (default: `gauges`). */
  readonly gaugesOf?: (transport: TransportName) => TransportGauges | undefined;
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
  /** The transport side: how to end it. */
  readonly peer: Peer;
}

/** Why `accept` refused a connection. */
export type Refusal = 'unauthenticated' | 'closed' | 'revoked' | 'too-many-connections';

/** The open connections of one graphql-ws server, driven by its callbacks. */
export interface Connections {
  /** graphql-ws `onConnect`: accepts the connection (true) or refuses it (false: 4403). */
  open(ctx: Context): Promise<boolean>;
  /** Any transport: authenticates `params` and accepts the connection known by `key`, or says why not. */
  accept(key: object, params: Readonly<Record<string, unknown>> | undefined, peer: Peer): Promise<ConnectionState | Refusal>;
  /** graphql-ws `onClose` (or any transport's end): forgets the connection and closes its upstream sockets. */
  close(key: object): Promise<void>;
  /** The state of an accepted connection. */
  get(key: object): ConnectionState | undefined;
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

/** A graphql-ws socket as a peer. */
function socketPeer(ctx: Context): Peer {
  const { socket, request } = ctx.extra as SocketExtra;
  return { transport: 'ws', request, isOpen: () => socket.readyState === socket.OPEN, close: (code, reason) => socket.close(code, reason) };
}

/** The connection registry of the gateway, shared by its transports (so per-user quotas count them all). */
export function createConnections(options: ConnectionOptions): Connections {
  const connections = new Map<object, ConnectionState>();
  const socketsPerUser = new Map<string, number>();
  const addressOf = options.clientAddress ?? clientAddressResolver(false);
  const { socketLimits, revocations } = options;
  const gaugesOf = (transport: TransportName): TransportGauges | undefined =>
    transport === 'ws' ? options.gauges : (options.gaugesOf?.(transport) ?? options.gauges);

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
    for (const { auth, peer } of connections.values()) {
      if (auth.sessionId !== undefined && sessionIds.has(auth.sessionId)) peer.close(CloseCode.Forbidden, SESSION_REVOKED_REASON);
    }
  });

  const accept: Connections['accept'] = async (key, params, peer) => {
    let auth: SubscriptionAuth | undefined;
    try {
      auth = await options.authenticate(params);
    } catch {
      return 'unauthenticated'; // graphql-ws closes with 4403 Forbidden
    }
    if (!auth) return 'unauthenticated';
    // Closed while `authenticate` ran: graphql-ws has called onClose already, so nothing may be counted or kept.
    if (!peer.isOpen()) return 'closed';
    // Revoked while `authenticate` ran: no word of it will come again, so it is refused here.
    if (revocations?.isRevoked(auth.sessionId)) return 'revoked';
    if (!takeUserSocket(auth.userKey)) {
      peer.close(CloseCode.Forbidden, `Forbidden: at most ${socketLimits?.maxConnectionsPerUser} open connections per user`);
      return 'too-many-connections';
    }
    // A token that expires while the connection is open ends it at that moment (4403 on a socket).
    const expiry = auth.expiresAt === undefined ? undefined : closeAtExpiry(peer, auth.expiresAt);
    const upstream = createUpstreamPool({ authorization: auth.authorization, serviceToken: options.upstreamServiceToken, ackTimeoutMs: options.upstreamAckTimeoutMs });
    const state: ConnectionState = { auth, upstream, connectionParams: params, clientAddress: addressOf(peer.request), subscriptions: new Set(), expiry, peer };
    connections.set(key, state);
    gaugesOf(peer.transport)?.connections.inc();
    return state;
  };

  return {
    async open(ctx) {
      return typeof (await accept(ctx, ctx.connectionParams, socketPeer(ctx))) !== 'string';
    },
    accept,
    async close(key) {
      const connection = connections.get(key);
      if (!connection) return;
      connections.delete(key);
      const gauges = gaugesOf(connection.peer.transport);
      gauges?.connections.dec();
      if (connection.subscriptions.size > 0) gauges?.subscriptions.dec(connection.subscriptions.size);
      connection.subscriptions.clear();
      clearTimeout(connection.expiry);
      releaseUserSocket(connection.auth.userKey);
      await connection.upstream.dispose();
    },
    get: (key) => connections.get(key),
    subscriptionRefusal(connection) {
      const max = socketLimits?.maxSubscriptionsPerConnection;
      if (max === undefined || connection.subscriptions.size < max) return undefined;
      return subscriptionQuotaRefusal(max);
    },
    subscribed(connection, id) {
      connection.subscriptions.add(id);
      gaugesOf(connection.peer.transport)?.subscriptions.inc();
    },
    unsubscribed(connection, id) {
      if (connection?.subscriptions.delete(id)) gaugesOf(connection.peer.transport)?.subscriptions.dec();
    },
    async disposeAll() {
      stopWatchingRevocations?.();
      const remaining = [...connections.values()];
      connections.clear();
      await Promise.all(remaining.map((connection) => connection.upstream.dispose()));
    },
  };
}
