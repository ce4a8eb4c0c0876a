/**
 * Protocol rules for gateway subscriptions, as named constants.
 *
 * The graphql-transport-ws close codes that the graphql-ws library itself emits
 * (4400 bad request, 4401 unauthorized, 4403 forbidden, 4408 init timeout,
 * 4409 duplicate subscriber id, 4429 too many init requests) are re-exported from
 * the library's `CloseCode` enum rather than redefined here.
 */
import { CloseCode } from 'graphql-ws';

/** graphql-ws close codes (library-owned; re-exported for callers and tests). */
export { CloseCode };

/** Default HTTP path on which the gateway accepts graphql-ws upgrades. */
export const DEFAULT_SUBSCRIPTION_PATH = '/graphql';

/** WebSocket close code sent to every client socket when the gateway shuts down (RFC 6455 "Going Away"). */
export const GOING_AWAY_CLOSE_CODE = 1001;

/** How long a client may wait before sending `connection_init` (ms); graphql-ws closes with 4408 after it. */
export const DEFAULT_CONNECTION_INIT_WAIT_TIMEOUT_MS = 3_000;

/** Interval of server-side WebSocket pings used to detect dead client sockets (ms). */
export const DEFAULT_CLIENT_KEEP_ALIVE_MS = 12_000;

/** How long the gateway waits for a subgraph's `connection_ack` before failing the subscription (ms). */
export const DEFAULT_UPSTREAM_ACK_TIMEOUT_MS = 5_000;

/** Upstream sockets are never silently retried: a lost subgraph must end the client's subscription with an error. */
export const UPSTREAM_RETRY_ATTEMPTS = 0;

/** Maximum number of cached entity responses kept per client subscription (oldest evicted first). */
export const DEFAULT_ENTITY_CACHE_MAX_ENTRIES = 1_000;

/** Maximum number of subscription plans cached per supergraph (oldest evicted first). */
export const DEFAULT_PLAN_CACHE_MAX_ENTRIES = 500;

/** Key of the `connection_init` payload that carries the caller's credentials, upstream and downstream. */
export const AUTHORIZATION_PARAM = 'authorization';

/** `extensions.code` values of errors produced by the subscription layer itself (the contract's own codes are `ErrorCode`'s). */
export const SubscriptionErrorCode = {
  /** The upstream subgraph socket closed or failed while the subscription was active. */
  UpstreamClosed: 'SUBSCRIPTION_UPSTREAM_CLOSED',
  /** The upstream subgraph rejected the subscription with an `error` message. */
  UpstreamError: 'SUBSCRIPTION_UPSTREAM_ERROR',
  /** The operation could not be planned against the current supergraph. */
  PlanningFailed: 'SUBSCRIPTION_PLANNING_FAILED',
  /** No supergraph has been loaded yet. */
  SupergraphNotLoaded: 'SUPERGRAPH_NOT_LOADED',
  /** A query or mutation was sent over the socket but no executor was configured. */
  OperationNotSupported: 'OPERATION_NOT_SUPPORTED_OVER_WEBSOCKET',
} as const;

/** Union of the `extensions.code` values above. */
export type SubscriptionErrorCode = (typeof SubscriptionErrorCode)[keyof typeof SubscriptionErrorCode];

/** Default HTTP path of the Server-Sent Events endpoint (graphql-sse protocol). */
export const DEFAULT_STREAM_PATH = '/graphql/stream';
