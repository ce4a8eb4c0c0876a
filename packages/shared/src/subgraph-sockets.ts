/**
 * graphql-ws on a subgraph's HTTP server and path, where the gateway opens a subscription's primary
 * fetch. A socket is the gateway's, for one signed-in user: its `connection_init` carries the
 * gateway's service token (`serviceToken`) and the user's access token (`authorization`), or it is
 * closed with 4403. The gateway's socket rules hold here too, for whoever reaches the subgraph
 * (config.socketLimits): a message over maxMessageBytes closes the socket with 1009, a subscription
 * past maxSubscriptionsPerConnection is refused with RATE_LIMITED, and the socket closes with 4403
 * the moment the user's access token expires.
 */
import type { Server } from 'node:http';
import type { GraphQLSchema } from 'graphql';
import type { Context } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Config } from './config';
import { maskInternalErrors } from './error-masking';
import { GRAPHQL_PATH } from './http';
import { GATEWAY_SERVICE, identifyCaller, type CallerVerifiers, type RequestIdentity } from './identity';
import { SERVICE_TOKEN_PARAM } from './service-auth';
import { closeAtExpiry, subscriptionQuotaRefusal } from './socket-limits';
import type { ServiceTelemetry } from './telemetry';
import { contextFrom, SpanKind } from './tracing';

/** Close code of a subgraph's sockets when it shuts down (RFC 6455 1001, going away). */
export const GOING_AWAY_CLOSE_CODE = 1001;
/** Key of the `connection_init` payload that carries the user's access token (as `Bearer <token>`). */
export const AUTHORIZATION_PARAM = 'authorization';

/** What a subgraph's sockets serve, and with what. */
export interface SubgraphSocketOptions<TContext> {
  schema: GraphQLSchema;
  createContext(identity: RequestIdentity): TContext;
  telemetry: ServiceTelemetry;
  verifiers: CallerVerifiers;
  socketLimits: Config['socketLimits'];
}

/** What a socket keeps between its `connection_init` and its close. */
interface SocketState extends Record<PropertyKey, unknown> {
  identity?: RequestIdentity;
  expiry?: NodeJS.Timeout;
}

/** Serves graphql-ws on `server`'s GRAPHQL_PATH; returns the function that closes every socket as going away. */
export function serveSubgraphSockets<TContext>(server: Server, options: SubgraphSocketOptions<TContext>): () => void {
  const { socketLimits, telemetry, verifiers } = options;
  const wss = new WebSocketServer({ server, path: GRAPHQL_PATH, maxPayload: socketLimits.maxMessageBytes });
  const maskError = maskInternalErrors(telemetry.log);
  useServer<Record<string, unknown> | undefined, SocketState>(
    {
      schema: options.schema,
      onConnect: async (ctx) => {
        const identity = await identifyCaller(verifiers, {
          serviceToken: ctx.connectionParams?.[SERVICE_TOKEN_PARAM],
          authorization: ctx.connectionParams?.[AUTHORIZATION_PARAM],
        }).catch(() => undefined);
        const expiresAt = identity?.viewer?.expiresAt;
        if (identity?.caller.service !== GATEWAY_SERVICE || expiresAt === undefined) return false;
        const socket: WebSocket = ctx.extra.socket;
        // Closed while it was being checked: onClose has run already, so nothing may be kept.
        if (socket.readyState !== socket.OPEN) return false;
        ctx.extra.identity = identity;
        ctx.extra.expiry = closeAtExpiry(socket, expiresAt);
        return true;
      },
      onClose: (ctx) => clearTimeout(ctx.extra.expiry),
      onSubscribe: (ctx, _id, payload) => {
        // graphql-ws lists this subscription already: the quota counts it.
        if (openSubscriptions(ctx) > socketLimits.maxSubscriptionsPerConnection) return [subscriptionQuotaRefusal(socketLimits.maxSubscriptionsPerConnection)];
        // The gateway sends its trace context in the subscribe message's extensions: the hop shows in its trace.
        const carrier = payload.extensions?.trace as Record<string, unknown> | undefined;
        if (carrier) telemetry.tracer.startSpan(`subscribe ${payload.operationName ?? '(anonymous)'}`, { kind: SpanKind.SERVER }, contextFrom(carrier)).end();
        return undefined;
      },
      context: (ctx) => options.createContext(ctx.extra.identity!) as Record<string, unknown>,
      // Events' errors are masked as HTTP answers are: a failure's own message stays in the log.
      onNext: (_ctx, _id, _payload, _args, result) => (result.errors ? { ...result, errors: result.errors.map((error) => maskError(error.toJSON(), error)) } : undefined),
    },
    wss,
  );
  return () => {
    for (const client of wss.clients) client.close(GOING_AWAY_CLOSE_CODE, 'server shutting down');
    wss.close();
  };
}

/** The subscriptions graphql-ws holds open on a socket (those being set up included). */
function openSubscriptions(ctx: Context<Record<string, unknown> | undefined, unknown>): number {
  return Object.keys(ctx.subscriptions).length;
}
