/**
 * Serves graphql-ws (graphql-transport-ws) on the gateway's HTTP server.
 *
 * Subscriptions are planned against the current supergraph and executed through
 * subgraph WebSockets (primary fetch) plus `executeQueryPlan` (everything else).
 * Queries and mutations over the socket go to the optional `executeOperation` hook
 * or are refused. graphql-ws owns the protocol close codes (4400, 4401, 4403, 4408,
 * 4409, 4429); a rejected `authenticate` maps to 4403 by returning `false` from
 * `onConnect`, as the library specifies.
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
import type { Context, SubscribePayload } from 'graphql-ws';
import {
  GraphQLError,
  getOperationAST,
  getVariableValues,
  parse,
  validate,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLFormattedError,
} from 'graphql';
import { RemoteGraphQLDataSource, type GraphQLDataSource, type ServiceMap } from '@apollo/gateway';
import { SpanKind, type Tracer } from '@opentelemetry/api';
import type { QueryPlannerConfig } from '@apollo/query-planner';
import { createSupergraphPlanner, type SubscriptionPlan, type SupergraphPlanner } from './planner';
import { createUpstreamPool, type UpstreamPool } from './upstream';
import { startGatewaySubscription, SubscriptionTerminatedError } from './subscribe';
import {
  AUTHORIZATION_PARAM,
  CloseCode,
  DEFAULT_CLIENT_KEEP_ALIVE_MS,
  DEFAULT_CONNECTION_INIT_WAIT_TIMEOUT_MS,
  DEFAULT_SUBSCRIPTION_PATH,
  GOING_AWAY_CLOSE_CODE,
  SubscriptionErrorCode,
} from './protocol';
import { documentSizeError, queryLimitRules, type QueryLimits } from '../limits';

/** How long `close()` waits for clients to finish the close handshake before terminating their sockets (ms). */
export const CLIENT_CLOSE_GRACE_MS = 2_000;

/** Tag on this module's 'upgrade' listeners: the path each one serves (lets them 404 unclaimed paths). */
const UPGRADE_PATH = Symbol.for('character-chat.gateway.subscriptions.upgradePath');

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
}

/** Query or mutation received over the socket, for the `executeOperation` hook. */
export interface SocketOperationRequest {
  /** Operation text as sent by the client. */
  readonly query: string;
  /** Parsed and validated document. */
  readonly document: DocumentNode;
  /** Requested operation name. */
  readonly operationName?: string;
  /** Raw variables from the client. */
  readonly variables: Record<string, unknown>;
  /** What `authenticate` returned for this connection. */
  readonly auth: SubscriptionAuth;
  /** The connection's `connection_init` payload. */
  readonly connectionParams?: Readonly<Record<string, unknown>>;
}

/** Options of {@link attachSubscriptionServer}. */
export interface AttachSubscriptionServerOptions {
  /** The gateway's HTTP server; WebSocket upgrades on `path` are taken over. */
  readonly httpServer: HttpServer;
  /** Upgrade path (default `/graphql`). */
  readonly path?: string;
  /** Fixed supergraph SDL (use `getSupergraphSdl` to follow gateway updates). */
  readonly supergraphSdl?: string;
  /** Current core supergraph SDL, e.g. the last one from `gateway.onSchemaLoadOrUpdate`. */
  readonly getSupergraphSdl?: () => string | undefined;
  /** HTTP URL of a subgraph (default: the URL recorded in the supergraph). */
  readonly serviceUrl?: (serviceName: string) => string;
  /** Checks a connection's `connection_init` payload; throw (or reject) to refuse with 4403. */
  readonly authenticate: (connectionParams: Readonly<Record<string, unknown>> | undefined) => Promise<SubscriptionAuth>;
  /** Executes queries/mutations sent over the socket; when absent they are refused with an error. */
  readonly executeOperation?: (request: SocketOperationRequest) => Promise<ExecutionResult | { data?: unknown; errors?: readonly GraphQLFormattedError[] }>;
  /** Data source for entity fetches to a subgraph (default: RemoteGraphQLDataSource forwarding `authorization`). */
  readonly dataSource?: (serviceName: string, url: string) => GraphQLDataSource;
  /** graphql-ws `connectionInitWaitTimeout` (ms). */
  readonly connectionInitWaitTimeoutMs?: number;
  /** Ping interval for client sockets (ms). */
  readonly keepAliveMs?: number;
  /** Upstream `connection_ack` timeout (ms). */
  readonly upstreamAckTimeoutMs?: number;
  /** Bound of each subscription's entity cache. */
  readonly entityCacheMaxEntries?: number;
  /** Query planner configuration. */
  readonly queryPlannerConfig?: QueryPlannerConfig;
  /** Size, depth, alias and cost limits, checked for every operation before it is planned or executed (default: none). */
  readonly limits?: QueryLimits;
  /** Socket limits (default: none): open subscriptions per socket, sockets per user, bytes per message. */
  readonly socketLimits?: SocketLimits;
  /** Counts the open connections and subscriptions (Prometheus gauges). */
  readonly gauges?: { readonly connections: OpenCount; readonly subscriptions: OpenCount };
  /** Each subscription starts in a span of this tracer; its upstream subscribe carries that trace. */
  readonly tracer?: Tracer;
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

/** A running subscription server. */
export interface SubscriptionServer {
  /** Closes all client sockets (1001), their upstream sockets, and stops handling upgrades. */
  close(): Promise<void>;
}

/** Per-connection state, created by a successful `connection_init`. */
interface ConnectionState {
  readonly auth: SubscriptionAuth;
  readonly upstream: UpstreamPool;
  readonly connectionParams?: Readonly<Record<string, unknown>>;
  /** Ids of the subscriptions open on this socket. */
  readonly subscriptions: Set<string>;
  /** Closes the socket when its credentials expire. */
  readonly expiry?: NodeJS.Timeout;
}

/** Everything derived from one supergraph SDL. */
interface SupergraphState {
  readonly planner: SupergraphPlanner;
  readonly serviceUrl: (serviceName: string) => string;
  readonly dataSources: ServiceMap;
}

/** What `onSubscribe` hands to `subscribe`/`execute` as `contextValue`. */
interface PreparedOperation {
  readonly connection: ConnectionState;
  readonly supergraph: SupergraphState;
  readonly query: string;
  readonly rawVariables: Record<string, unknown>;
  readonly variables: Record<string, unknown>;
  readonly plan?: SubscriptionPlan;
}

/** Attaches a graphql-ws server for federated subscriptions to `httpServer` at `path`. */
export function attachSubscriptionServer(options: AttachSubscriptionServerOptions): SubscriptionServer {
  const { httpServer } = options;
  const path = options.path ?? DEFAULT_SUBSCRIPTION_PATH;
  const connections = new Map<Context, ConnectionState>();
  let current: { sdl: string; state: SupergraphState } | undefined;

  const currentSupergraph = (): SupergraphState => {
    const sdl = options.getSupergraphSdl ? options.getSupergraphSdl() : options.supergraphSdl;
    if (!sdl) {
      throw new GraphQLError('The gateway has not loaded a supergraph yet', {
        extensions: { code: SubscriptionErrorCode.SupergraphNotLoaded },
      });
    }
    if (current?.sdl !== sdl) current = { sdl, state: buildSupergraphState(sdl, options) };
    return current.state;
  };

  /** A subscription of `connection` ended. */
  const forget = (connection: ConnectionState | undefined, id: string) => {
    if (connection?.subscriptions.delete(id)) options.gauges?.subscriptions.dec();
  };

  const wss = new WebSocketServer({ noServer: true, ...(options.socketLimits ? { maxPayload: options.socketLimits.maxMessageBytes } : {}) });
  const socketsPerUser = new Map<string, number>();
  const graphqlWs = useServer<Record<string, unknown>>(
    {
      connectionInitWaitTimeout: options.connectionInitWaitTimeoutMs ?? DEFAULT_CONNECTION_INIT_WAIT_TIMEOUT_MS,
      async onConnect(ctx) {
        let auth: SubscriptionAuth | undefined;
        try {
          auth = await options.authenticate(ctx.connectionParams);
        } catch {
          return false; // graphql-ws closes with 4403 Forbidden
        }
        if (!auth) return false;
        const socket = (ctx.extra as { socket: WebSocket }).socket;
        const limit = options.socketLimits?.maxConnectionsPerUser;
        if (limit !== undefined && auth.userKey !== undefined) {
          const open = socketsPerUser.get(auth.userKey) ?? 0;
          if (open >= limit) {
            socket.close(CloseCode.Forbidden, `Forbidden: at most ${limit} open connections per user`);
            return false;
          }
          socketsPerUser.set(auth.userKey, open + 1);
        }
        // A token that expires while the socket is open ends it at that moment, with 4403.
        const expiry =
          auth.expiresAt === undefined
            ? undefined
            : setTimeout(() => socket.close(CloseCode.Forbidden, 'Forbidden: the access token expired'), Math.max(0, auth.expiresAt - Date.now()));
        expiry?.unref();
        const upstream = createUpstreamPool({ authorization: auth.authorization, ackTimeoutMs: options.upstreamAckTimeoutMs });
        connections.set(ctx, { auth, upstream, connectionParams: ctx.connectionParams, subscriptions: new Set(), expiry });
        options.gauges?.connections.inc();
        return true;
      },
      async onClose(ctx) {
        const connection = connections.get(ctx);
        if (!connection) return;
        connections.delete(ctx);
        options.gauges?.connections.dec();
        if (connection.subscriptions.size > 0) options.gauges?.subscriptions.dec(connection.subscriptions.size);
        connection.subscriptions.clear();
        clearTimeout(connection.expiry);
        const key = connection.auth.userKey;
        if (key !== undefined && socketsPerUser.has(key)) {
          const left = (socketsPerUser.get(key) ?? 1) - 1;
          if (left > 0) socketsPerUser.set(key, left);
          else socketsPerUser.delete(key);
        }
        await connection.upstream.dispose();
      },
      onSubscribe(ctx, id, payload) {
        const connection = connections.get(ctx);
        if (!connection) return [new GraphQLError('Connection is not initialised')];
        const max = options.socketLimits?.maxSubscriptionsPerConnection;
        if (max !== undefined && connection.subscriptions.size >= max) {
          return [new GraphQLError(`At most ${max} subscriptions may be open on one connection.`, { extensions: { code: 'RATE_LIMITED', retryAfterSeconds: 1 } })];
        }
        const prepared = prepareOperation(connection, payload, currentSupergraph, options);
        if (!Array.isArray(prepared)) {
          connection.subscriptions.add(id);
          options.gauges?.subscriptions.inc();
        }
        return prepared;
      },
      onComplete(ctx, id) {
        forget(connections.get(ctx), id);
      },
      subscribe: (args) => {
        const prepared = args.contextValue as PreparedOperation;
        const { connection, supergraph, plan } = prepared;
        if (!plan) return { errors: [new GraphQLError('Subscription was not planned')] };
        const start = () => startGatewaySubscription({
          planner: supergraph.planner,
          plan,
          upstream: connection.upstream,
          serviceUrl: supergraph.serviceUrl,
          dataSources: supergraph.dataSources,
          query: prepared.query,
          variables: prepared.variables,
          context: dataSourceContext(connection),
          entityCacheMaxEntries: options.entityCacheMaxEntries,
        });
        if (!options.tracer) return start();
        // A short span for the start: the upstream subscribe made inside it carries its trace to the subgraph.
        return options.tracer.startActiveSpan(`subscription ${args.operationName ?? '(anonymous)'}`, { kind: SpanKind.SERVER }, (span) => {
          try {
            return start();
          } finally {
            span.end();
          }
        });
      },
      execute: async (args) => {
        const prepared = args.contextValue as PreparedOperation;
        if (!options.executeOperation) return { errors: [operationNotSupportedError()] };
        try {
          const result = await options.executeOperation({
            query: prepared.query,
            document: args.document,
            operationName: args.operationName ?? undefined,
            variables: prepared.rawVariables,
            auth: prepared.connection.auth,
            connectionParams: prepared.connection.connectionParams,
          });
          return toExecutionResult(result);
        } catch (error) {
          return { errors: [toGraphQLError(error)] };
        }
      },
      onError: (ctx, id, _payload, errors) => {
        forget(connections.get(ctx), id);
        return formatTerminalErrors(errors);
      },
    },
    wss,
    options.keepAliveMs ?? DEFAULT_CLIENT_KEEP_ALIVE_MS,
  );

  const onUpgrade: UpgradeListener = (request, socket, head) => {
    const requested = requestPath(request);
    if (requested !== path) {
      if (isUnclaimedUpgrade(httpServer, onUpgrade, requested)) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      }
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
  };
  onUpgrade[UPGRADE_PATH] = path;
  httpServer.on('upgrade', onUpgrade);

  let closing: Promise<void> | undefined;
  return {
    close() {
      closing ??= (async () => {
        httpServer.off('upgrade', onUpgrade);
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
        const remaining = [...connections.values()];
        connections.clear();
        await Promise.all(remaining.map((connection) => connection.upstream.dispose()));
      })();
      return closing;
    },
  };
}

/** Parses, validates, coerces variables and (for subscriptions) plans; errors become a graphql-ws `error` message. */
function prepareOperation(
  connection: ConnectionState,
  payload: SubscribePayload,
  currentSupergraph: () => SupergraphState,
  options: AttachSubscriptionServerOptions,
): ExecutionArgs | readonly GraphQLError[] {
  let supergraph: SupergraphState;
  let document: DocumentNode;
  const tooLarge = options.limits && documentSizeError(payload.query, options.limits.maxDocumentBytes);
  if (tooLarge) return [tooLarge];
  try {
    supergraph = currentSupergraph();
    document = parse(payload.query);
  } catch (error) {
    return [toGraphQLError(error)];
  }
  const schema = supergraph.planner.apiSchema;
  const validationErrors = validate(schema, document);
  if (validationErrors.length > 0) return validationErrors;
  if (options.limits) {
    const limitErrors = validate(schema, document, queryLimitRules(options.limits, payload.variables));
    if (limitErrors.length > 0) return limitErrors;
  }
  const operationName = payload.operationName ?? undefined;
  const operation = getOperationAST(document, operationName);
  if (!operation) return [new GraphQLError('Unable to identify operation')];
  const rawVariables = (payload.variables ?? {}) as Record<string, unknown>;
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], rawVariables);
  if (coerced.errors) {
    return coerced.errors.map(
      (e) => new GraphQLError(e.message, { nodes: e.nodes, extensions: { code: SubscriptionErrorCode.BadUserInput } }),
    );
  }
  let plan: SubscriptionPlan | undefined;
  if (operation.operation === 'subscription') {
    try {
      plan = supergraph.planner.plan(document, operationName);
    } catch (error) {
      return [
        new GraphQLError(`Could not plan subscription: ${error instanceof Error ? error.message : String(error)}`, {
          extensions: { code: SubscriptionErrorCode.PlanningFailed },
        }),
      ];
    }
  } else if (!options.executeOperation) {
    return [operationNotSupportedError()];
  }
  const contextValue: PreparedOperation = {
    connection,
    supergraph,
    query: payload.query,
    rawVariables,
    variables: coerced.coerced,
    plan,
  };
  return { schema, document, operationName, variableValues: rawVariables, contextValue };
}

/** Builds planner, URLs and entity data sources for one supergraph SDL. */
function buildSupergraphState(sdl: string, options: AttachSubscriptionServerOptions): SupergraphState {
  const planner = createSupergraphPlanner(sdl, { queryPlannerConfig: options.queryPlannerConfig });
  const recorded = new Map(planner.subgraphs.map((s) => [s.name, s.url]));
  const serviceUrl = (name: string): string => {
    const url = options.serviceUrl?.(name) ?? recorded.get(name);
    if (!url) throw new Error(`No URL known for subgraph "${name}"`);
    return url;
  };
  const makeDataSource = options.dataSource ?? defaultDataSource;
  const dataSources: ServiceMap = Object.create(null);
  for (const { name } of planner.subgraphs) dataSources[name] = makeDataSource(name, serviceUrl(name));
  return { planner, serviceUrl, dataSources };
}

/** Entity fetches over HTTP, forwarding the connection's authorization header. */
function defaultDataSource(_serviceName: string, url: string): GraphQLDataSource {
  return new RemoteGraphQLDataSource({
    url,
    willSendRequest({ request, context }) {
      const authorization = (context as Record<string, unknown>)[AUTHORIZATION_PARAM];
      if (typeof authorization === 'string') request.http?.headers.set(AUTHORIZATION_PARAM, authorization);
    },
  });
}

/** Context handed to data sources for a connection's subscriptions. */
function dataSourceContext(connection: ConnectionState): Record<string, unknown> {
  return { [AUTHORIZATION_PARAM]: connection.auth.authorization, viewer: connection.auth.viewer };
}

/** Expands terminal subscription errors (upstream gone, upstream error) into the client's `error` payload. */
function formatTerminalErrors(errors: readonly GraphQLError[]): GraphQLFormattedError[] {
  return errors.flatMap((error) =>
    error.originalError instanceof SubscriptionTerminatedError
      ? error.originalError.errors.map((e) => e.toJSON())
      : [error.toJSON()],
  );
}

/** The refusal for queries/mutations when no `executeOperation` hook is configured. */
function operationNotSupportedError(): GraphQLError {
  return new GraphQLError('Only subscriptions are served over this WebSocket; send queries and mutations over HTTP', {
    extensions: { code: SubscriptionErrorCode.OperationNotSupported },
  });
}

/** Converts a hook result (possibly with formatted, plain-object errors) to an ExecutionResult graphql-ws can send. */
function toExecutionResult(result: ExecutionResult | { data?: unknown; errors?: readonly GraphQLFormattedError[] }): ExecutionResult {
  const errors = result.errors?.map((e) =>
    e instanceof GraphQLError
      ? e
      : new GraphQLError(e.message, { path: e.path, extensions: e.extensions as Record<string, unknown> | undefined }),
  );
  return { data: (result.data ?? null) as ExecutionResult['data'], ...(errors?.length ? { errors } : {}) };
}

/** Wraps anything thrown as a GraphQLError. */
function toGraphQLError(error: unknown): GraphQLError {
  if (error instanceof GraphQLError) return error;
  return new GraphQLError(error instanceof Error ? error.message : String(error), {
    originalError: error instanceof Error ? error : undefined,
  });
}

/** An 'upgrade' listener tagged with the path it serves. */
type UpgradeListener = ((request: IncomingMessage, socket: Duplex, head: Buffer) => void) & { [UPGRADE_PATH]?: string };

/**
 * Whether an upgrade for `requested` will be handled by nobody, in which case the first
 * of our listeners answers 404 instead of leaving the socket hanging. Only decidable when
 * every 'upgrade' listener on the server is one of ours; otherwise it is left alone.
 */
function isUnclaimedUpgrade(httpServer: HttpServer, self: UpgradeListener, requested: string): boolean {
  const listeners = httpServer.listeners('upgrade') as UpgradeListener[];
  return (
    listeners[0] === self &&
    listeners.every((listener) => typeof listener[UPGRADE_PATH] === 'string') &&
    !listeners.some((listener) => listener[UPGRADE_PATH] === requested)
  );
}

/** Pathname of an upgrade request. */
function requestPath(request: IncomingMessage): string {
  return new URL(request.url ?? '/', 'http://localhost').pathname;
}
