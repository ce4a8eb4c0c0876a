import type { IncomingMessage } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { GraphQLError, type GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { TokenVerifier, Viewer } from './auth';
import type { Config, SubgraphName } from './config';
import { maskInternalErrors } from './error-masking';
import { healthRoutes, type Check } from './health';
import { GRAPHQL_PATH, graphqlHandler, listen, type Route, type RunningServer } from './http';
import { METRICS_PATH } from './metrics';
import { operationsPlugin } from './operations';
import type { ServiceTelemetry } from './telemetry';
import { contextFrom, SpanKind } from './tracing';

/** What every subgraph's context starts from: the verified caller and their raw header (forwarded onwards). */
export interface RequestIdentity {
  viewer: Viewer | null;
  authorization?: string;
  /** The client's address: the first X-Forwarded-For hop the gateway set, or the peer's address. */
  clientAddress?: string;
}

/** The client address of a request that came through the gateway (which sets X-Forwarded-For), or its peer. */
export function clientAddressOf(req: IncomingMessage): string | undefined {
  const forwarded = req.headers['x-forwarded-for'];
  const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim();
  return first || req.socket.remoteAddress;
}

/** A subgraph ready to serve: its schema, its per-request context, extra routes and its resources. */
export interface SubgraphService<TContext extends object = object> {
  name: SubgraphName;
  schema: GraphQLSchema;
  /** Builds a request's context (fresh DataLoaders included). */
  createContext(identity: RequestIdentity): TContext;
  routes?: Record<string, Route>;
  /** Database queries run so far. */
  stats: { queries: number };
  /** Its logger, metrics (served at /metrics) and tracer. */
  telemetry: ServiceTelemetry;
  /** What must answer for it to be ready (/ready): its database, Redis. */
  checks: Record<string, Check>;
  /** Extra fields for /health (e.g. the generator's load). */
  healthDetails?(): Promise<Record<string, unknown>>;
  /** Serve graphql-ws beside HTTP on /graphql: the gateway opens the subgraph's subscriptions there, with the caller's token. */
  subscriptions?: boolean;
  close(): Promise<void>;
}

/** Close code of a subgraph's sockets when it shuts down (RFC 6455 1001, going away). */
export const GOING_AWAY_CLOSE_CODE = 1001;

/** A running subgraph. */
export interface RunningSubgraph<TContext extends object = object> extends RunningServer {
  service: SubgraphService<TContext>;
  url: string;
}

/** The caller's identity from request headers; a bad token is UNAUTHENTICATED with status 401. */
export async function identify(verifier: TokenVerifier, authorization: string | undefined): Promise<RequestIdentity> {
  try {
    return { viewer: await verifier.fromAuthorization(authorization), authorization };
  } catch (error) {
    if (error instanceof GraphQLError) {
      throw new GraphQLError(error.message, { extensions: { ...error.extensions, http: { status: 401 } } });
    }
    throw error;
  }
}

/** Serves a subgraph over HTTP at /graphql, with /health, /ready and /metrics beside it. */
export async function serveSubgraph<TContext extends object>(
  service: SubgraphService<TContext>,
  options: { port: number; host?: string; verifier: TokenVerifier; config: Pick<Config, 'nodeEnv'> },
): Promise<RunningSubgraph<TContext>> {
  const apollo = new ApolloServer<TContext & object>({
    schema: service.schema,
    includeStacktraceInErrorResponses: options.config.nodeEnv !== 'production',
    // A failure's own message (SQL, values, hosts) is logged, never sent: clients get the code and a generic message.
    formatError: maskInternalErrors(service.telemetry.log),
    introspection: options.config.nodeEnv !== 'production',
    // Inline traces are for Apollo Studio, which we do not use; tracing is OpenTelemetry's job.
    plugins: [ApolloServerPluginLandingPageDisabled(), ApolloServerPluginInlineTraceDisabled(), operationsPlugin(service.telemetry)],
    // exitOnSignal (@chat/system) stops everything in order; Apollo's own handlers would re-raise the signal midway.
    stopOnTerminationSignals: false,
  });
  await apollo.start();
  const context = async (req: IncomingMessage) => {
    const identity = { ...(await identify(options.verifier, req.headers.authorization)), clientAddress: clientAddressOf(req) };
    return service.createContext(identity);
  };
  let draining = false;
  const routes: Record<string, Route> = {
    ...healthRoutes({ service: service.name, checks: service.checks, details: service.healthDetails, draining: () => draining }),
    [METRICS_PATH]: service.telemetry.metrics.route(),
    ...service.routes,
  };
  const running = await listen(graphqlHandler(apollo, context, { routes, tracer: service.telemetry.tracer }), options.port, options.host);
  const closeSockets = service.subscriptions ? serveSubscriptions(running, service, options.verifier) : undefined;
  return {
    ...running,
    service,
    url: `${running.origin}${GRAPHQL_PATH}`,
    close: async () => {
      draining = true;
      // Sockets first, then the service (it lets replies finish), then HTTP.
      closeSockets?.();
      await service.close();
      await running.close();
      await apollo.stop();
    },
  };
}

/**
 * graphql-ws on the subgraph's HTTP server and path. A socket is identified once, from its
 * `connection_init` payload's `authorization`, as `identify` does for HTTP; one without a valid
 * user token is refused. Returns the function that closes every socket as going away.
 */
function serveSubscriptions<TContext extends object>(server: RunningServer, service: SubgraphService<TContext>, verifier: TokenVerifier): () => void {
  const wss = new WebSocketServer({ server: server.server, path: GRAPHQL_PATH });
  const { tracer } = service.telemetry;
  const maskError = maskInternalErrors(service.telemetry.log);
  useServer<Record<string, unknown> | undefined, { identity?: RequestIdentity }>(
    {
      schema: service.schema,
      onConnect: async (ctx) => {
        const authorization = ctx.connectionParams?.authorization;
        if (typeof authorization !== 'string') return false;
        try {
          ctx.extra.identity = await identify(verifier, authorization);
          return ctx.extra.identity.viewer !== null;
        } catch {
          return false;
        }
      },
      // The gateway sends its trace context in the subscribe message's extensions: the hop shows in its trace.
      onSubscribe: (_ctx, _id, payload) => {
        const carrier = payload.extensions?.trace as Record<string, unknown> | undefined;
        if (carrier) tracer.startSpan(`subscribe ${payload.operationName ?? '(anonymous)'}`, { kind: SpanKind.SERVER }, contextFrom(carrier)).end();
      },
      context: (ctx) => service.createContext(ctx.extra.identity!),
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
