import type { IncomingMessage } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import type { GraphQLSchema } from 'graphql';
import type { Config, SubgraphName } from './config';
import { maskInternalErrors } from './error-masking';
import { healthRoutes, type Check } from './health';
import { GRAPHQL_PATH, graphqlHandler, listen, type Route, type RunningServer } from './http';
import { identifyCaller, type CallerVerifiers, type RequestIdentity } from './identity';
import { METRICS_PATH } from './metrics';
import { operationsPlugin } from './operations';
import { SERVICE_TOKEN_HEADER } from './service-auth';
import { serveSubgraphSockets } from './subgraph-sockets';
import type { ServiceTelemetry } from './telemetry';

export type { RequestIdentity } from './identity';

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
  /** Serve graphql-ws beside HTTP on /graphql: the gateway opens the subgraph's subscriptions there (subgraph-sockets.ts). */
  subscriptions?: boolean;
  close(): Promise<void>;
}

/** A running subgraph. */
export interface RunningSubgraph<TContext extends object = object> extends RunningServer {
  service: SubgraphService<TContext>;
  url: string;
}

/** How a subgraph is served: where, and what it checks its callers with. */
export interface ServeOptions {
  port: number;
  host?: string;
  /** Access tokens (the users subgraph's keys) and service tokens for this subgraph. */
  verifiers: CallerVerifiers;
  config: Pick<Config, 'nodeEnv' | 'socketLimits'>;
}

/**
 * Serves a subgraph over HTTP at /graphql, with /health, /ready and /metrics beside it (and its own
 * routes, such as the users JWKS), which stay open to anyone. GraphQL answers only requests signed
 * by a known service for this subgraph (identity.ts); any other is refused with 401 before it is
 * parsed, in every mode: the all-in-one start signs its own calls, so nothing needs an exception.
 */
export async function serveSubgraph<TContext extends object>(service: SubgraphService<TContext>, options: ServeOptions): Promise<RunningSubgraph<TContext>> {
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
  const context = async (req: IncomingMessage) =>
    service.createContext(
      await identifyCaller(options.verifiers, {
        serviceToken: req.headers[SERVICE_TOKEN_HEADER],
        authorization: req.headers.authorization,
        forwardedFor: req.headers['x-forwarded-for'],
      }),
    );
  let draining = false;
  const routes: Record<string, Route> = {
    ...healthRoutes({ service: service.name, checks: service.checks, details: service.healthDetails, draining: () => draining }),
    [METRICS_PATH]: service.telemetry.metrics.route(),
    ...service.routes,
  };
  const running = await listen(graphqlHandler(apollo, context, { routes, tracer: service.telemetry.tracer }), options.port, options.host);
  const closeSockets = service.subscriptions
    ? serveSubgraphSockets(running.server, {
        schema: service.schema,
        createContext: (identity) => service.createContext(identity),
        telemetry: service.telemetry,
        verifiers: options.verifiers,
        socketLimits: options.config.socketLimits,
      })
    : undefined;
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
