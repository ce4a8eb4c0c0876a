import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { createTokenVerifier, remoteKeys, type TokenVerifier } from '@chat/shared/auth';
import type { Config, SubgraphName } from '@chat/shared/config';
import { GRAPHQL_PATH, graphqlHandler, listen, type RunningServer } from '@chat/shared/http';
import { viewerOf } from '@chat/shared/identity';
import { METRICS_PATH } from '@chat/shared/metrics';
import { operationsPlugin } from '@chat/shared/operations';
import { createPeerClient } from '@chat/shared/peer-client';
import type { ServiceKeyring, ServiceName } from '@chat/shared/service-auth';
import { createTelemetry } from '@chat/shared/telemetry';
import { sharedDataSources, type GatewayContext } from './authenticated-datasource';
import { clientAddressResolver } from './client-address';
import { corsHandler } from './cors';
import { gatewayErrorFormatter } from './format-error';
import { createGraphiqlHandler } from './graphiql';
import { gatewayHealthRoutes } from './health';
import { createImageHandler } from './images';
import { queryLimitsPlugin } from './limits';
import { GatewayMetrics } from './metrics';
import { createRevocationList, refusingRevokedSessions, revokedSessionsFrom, sessionOfAuthorization } from './revocations';
import { attachSubscriptionServer } from './subscriptions';

/** The committed supergraph the gateway serves (composed by `npm run compose`, never introspected at run time). */
export const SUPERGRAPH_FILE = new URL('../../supergraph.graphql', import.meta.url);

/** The environment variable @apollo/gateway reads to turn off its usage metrics to Apollo. */
export const APOLLO_TELEMETRY_SWITCH = 'APOLLO_TELEMETRY_DISABLED';

/** A running gateway. */
export interface RunningGateway extends RunningServer {
  url: string;
}

/** The gateway's token verifier: the users subgraph's JWKS over HTTP. */
export function gatewayVerifier(config: Config): TokenVerifier {
  return createTokenVerifier({ keys: remoteKeys(config.subgraphUrls.users), issuer: config.auth.issuer, audience: config.auth.audience });
}

/**
 * Starts the gateway on config.port (or `port`), routing each subgraph to config.subgraphUrls and
 * signing every call to them with the gateway's key from `keyring`.
 */
export async function startGateway(config: Config, keyring: ServiceKeyring, options: { port?: number; supergraphSdl?: string } = {}): Promise<RunningGateway> {
  const supergraphSdl = options.supergraphSdl ?? readFileSync(SUPERGRAPH_FILE, 'utf8');
  const signer = keyring.signer('gateway');
  const telemetry = createTelemetry(config, 'gateway');
  // Sessions ended lately (logout, a replayed refresh token): their access tokens are refused
  // before they expire, over HTTP and at connection_init, and their sockets closed (revocations.ts).
  const revocations = createRevocationList({
    fetchRevoked: revokedSessionsFrom(createPeerClient(config.subgraphUrls.users, 'users', signer)),
    pollMs: config.auth.revocationPollMs,
    accessTokenTtlSeconds: config.auth.accessTokenTtlSeconds,
    log: telemetry.log,
  });
  const verifier = refusingRevokedSessions(gatewayVerifier(config), revocations);
  const metrics = new GatewayMetrics(telemetry.metrics.registry);
  const formatError = gatewayErrorFormatter(telemetry.log);
  // One data source per subgraph for HTTP operations and subscription events: one pool, one set of observers.
  const dataSource = sharedDataSources(signer, { telemetry, metrics });
  // @apollo/gateway reads only this variable, in its constructor; unset, it would phone home (and hold a stopping process open).
  process.env[APOLLO_TELEMETRY_SWITCH] = config.apolloTelemetry ? 'false' : 'true';
  const gateway = new ApolloGateway({
    supergraphSdl,
    buildService: ({ name, url }) => dataSource(name, config.subgraphUrls[name as SubgraphName] ?? url ?? ''),
  });
  const apollo = new ApolloServer<GatewayContext>({
    gateway,
    includeStacktraceInErrorResponses: config.nodeEnv !== 'production',
    // GraphiQL needs introspection for its docs and completion: enabling it in production enables both.
    introspection: config.nodeEnv !== 'production' || config.graphiql,
    // Size, depth, alias, cost and response-size limits (gateway/src/limits.ts); JSON-array batches get Apollo's 400; CSRF prevention stays on.
    plugins: [ApolloServerPluginLandingPageDisabled(), queryLimitsPlugin<GatewayContext>(config.limits), operationsPlugin<GatewayContext>(telemetry)],
    allowBatchedHttpRequests: false,
    // Contract codes, and internal failures (an unreachable subgraph's address, a bug) masked: the original is logged.
    formatError,
    csrfPrevention: true,
    // exitOnSignal (@chat/system) stops everything in order; Apollo's own handlers would re-raise the signal midway.
    stopOnTerminationSignals: false,
  });
  await apollo.start();
  const clientAddress = clientAddressResolver(config.trustProxy);
  const context = async (req: IncomingMessage): Promise<GatewayContext> => ({
    viewer: await viewerOf(verifier, req.headers.authorization),
    authorization: req.headers.authorization,
    clientAddress: clientAddress(req),
  });
  let draining = false;
  const routes = { ...gatewayHealthRoutes(config, () => draining), [METRICS_PATH]: telemetry.metrics.route() };
  const graphql = graphqlHandler(apollo, context, { routes, tracer: telemetry.tracer });
  // GraphiQL for browsers at / and GET /graphql; off in production unless GRAPHIQL=true.
  const graphiql = config.graphiql ? createGraphiqlHandler({ graphqlPath: GRAPHQL_PATH }) : undefined;
  const cors = corsHandler(config.corsOrigins);
  // Character images (/images/characters/<id>), passed on to the characters subgraph (images.ts).
  const images = createImageHandler(config);
  // Subscriptions over SSE (/graphql/stream) and multipart POSTs are served beside graphql-ws (attached once listening).
  let streams: ((req: IncomingMessage, res: ServerResponse) => boolean) | undefined;
  const running = await listen(
    (req, res) => (cors(req, res) || graphiql?.(req, res) || images(req, res) || streams?.(req, res) ? undefined : void graphql(req, res)),
    options.port ?? config.port,
    config.host,
  );
  revocations.start();
  const subscriptions = attachSubscriptionServer({
    httpServer: running.server,
    path: GRAPHQL_PATH,
    supergraphSdl,
    serviceUrl: (name) => config.subgraphUrls[name as SubgraphName],
    dataSource,
    clientAddress,
    limits: config.limits,
    socketLimits: config.socketLimits,
    gauges: { connections: metrics.connections, subscriptions: metrics.subscriptions },
    // Two tabs, or a reconnect racing the old socket: one upstream subscription and one execution per event for both.
    shareSubscriptions: true,
    gaugesOf: (transport) => ({ connections: metrics.streamConnections.labels(transport), subscriptions: metrics.streamSubscriptions.labels(transport) }),
    tracer: telemetry.tracer,
    formatError,
    upstreamServiceToken: (subgraph) => signer.token(subgraph as ServiceName),
    revocations,
    // A socket or stream needs a valid token: conversationEvents is for a conversation's owner only.
    authenticate: async (params) => {
      const authorization = typeof params?.authorization === 'string' ? params.authorization : undefined;
      const viewer = await verifier.fromAuthorization(authorization);
      if (!viewer) throw new Error('connection_init (or the Authorization header) must carry "Bearer <accessToken>"');
      return { authorization, viewer, userKey: viewer.id, expiresAt: viewer.expiresAt, sessionId: sessionOfAuthorization(authorization) };
    },
    // Queries and mutations sent over the socket run as they would over HTTP.
    executeOperation: async ({ query, variables, operationName, auth, clientAddress: address }) => {
      const response = await apollo.executeOperation(
        { query, variables, operationName },
        { contextValue: { viewer: (auth.viewer as GatewayContext['viewer']) ?? null, authorization: auth.authorization, clientAddress: address } },
      );
      return response.body.kind === 'single' ? response.body.singleResult : { errors: [{ message: 'Incremental delivery is not supported over WebSocket.' }] };
    },
  });
  streams = subscriptions.handle;
  return {
    ...running,
    url: `${running.origin}${GRAPHQL_PATH}`,
    close: async () => {
      draining = true;
      await subscriptions.close();
      await revocations.stop();
      await running.close();
      await apollo.stop();
    },
  };
}
