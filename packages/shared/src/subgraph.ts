import type { IncomingMessage } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { GraphQLError, type GraphQLSchema } from 'graphql';
import type { TokenVerifier, Viewer } from './auth';
import type { Config, SubgraphName } from './config';
import { healthRoutes, type Check } from './health';
import { graphqlHandler, listen, type Route, type RunningServer } from './http';
import { METRICS_PATH } from './metrics';
import { operationsPlugin } from './operations';
import type { ServiceTelemetry } from './telemetry';

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
  /** Called once the HTTP server listens, e.g. to attach graphql-ws (with the same token verifier). */
  onListen?(server: RunningServer, verifier: TokenVerifier): void;
  close(): Promise<void>;
}

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
  service.onListen?.(running, options.verifier);
  return {
    ...running,
    service,
    url: `${running.origin}/graphql`,
    close: async () => {
      draining = true;
      // The service first (it closes its sockets and lets replies finish), then HTTP.
      await service.close();
      await running.close();
      await apollo.stop();
    },
  };
}
