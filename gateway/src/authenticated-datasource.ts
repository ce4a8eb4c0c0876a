/**
 * The gateway's data source for every subgraph fetch, for HTTP operations and subscription
 * events alike: it signs the fetch as the gateway, forwards who is asking and the trace, and
 * observes each fetch.
 */
import type { RemoteGraphQLDataSource } from '@apollo/gateway';
import type { Viewer } from '@chat/shared/auth';
import { SERVICE_TOKEN_HEADER, type ServiceName, type ServiceSigner } from '@chat/shared/service-auth';
import type { ServiceTelemetry } from '@chat/shared/telemetry';
import { inSpan, SpanKind, traceHeaders } from '@chat/shared/tracing';
import { SubgraphDataSource } from './datasource';
import type { GatewayMetrics } from './metrics';

/** What a data source observes its fetches with. */
export interface FetchObservers {
  telemetry: ServiceTelemetry;
  metrics: GatewayMetrics;
}

/** What a gateway request carries to its subgraph fetches: the client's verified user, their token as it came, and their address. */
export interface GatewayContext {
  viewer: Viewer | null;
  /** The client's Authorization, forwarded: the subgraph checks the token itself. */
  authorization?: string;
  /** The client's address (client-address.ts), for per-address limits downstream. */
  clientAddress?: string;
}

/** Makes the data source of one subgraph (the shape of ApolloGateway's `buildService` and the subscription server's `dataSource`). */
export type DataSourceFactory = (serviceName: string, url: string) => AuthenticatedDataSource;

/**
 * Signs each fetch with the gateway's service token for the subgraph (subgraphs answer nothing
 * else), forwards the caller's Authorization, which the subgraph verifies itself, and the client's
 * address; with observers, each fetch is a span and a latency sample. Without a signer fetches go
 * unsigned, which only stand-in subgraphs accept. Keep-alive HTTP, one representation per entity,
 * identical in-flight queries shared: see datasource.ts (the token is one per subgraph, whoever
 * asks, so sharing is unchanged).
 */
export class AuthenticatedDataSource extends SubgraphDataSource<GatewayContext> {
  constructor(
    url: string,
    private readonly subgraph: string,
    private readonly signer?: ServiceSigner,
    private readonly observers?: FetchObservers,
  ) {
    super({ url });
  }

  override async willSendRequest({ request, context }: Parameters<NonNullable<RemoteGraphQLDataSource<GatewayContext>['willSendRequest']>>[0]) {
    if (this.signer) request.http?.headers.set(SERVICE_TOKEN_HEADER, await this.signer.token(this.subgraph as ServiceName));
    if (context.authorization) request.http?.headers.set('authorization', context.authorization);
    // The client's address, for per-address limits; set here, never passed through from the client.
    if (context.clientAddress) request.http?.headers.set('x-forwarded-for', context.clientAddress);
    // The fetch's span goes with the request: the subgraph's spans join the client's trace.
    for (const [name, value] of Object.entries(traceHeaders())) request.http?.headers.set(name, value);
  }

  override process(options: Parameters<RemoteGraphQLDataSource<GatewayContext>['process']>[0]) {
    if (!this.observers) return super.process(options);
    const { telemetry, metrics } = this.observers;
    const started = performance.now();
    let outcome = 'failed';
    const attributes = { 'graphql.subgraph.name': this.subgraph };
    return inSpan(telemetry.tracer, `fetch ${this.subgraph}`, { kind: SpanKind.CLIENT, attributes }, async (span) => {
      try {
        const response = await super.process(options);
        outcome = response.errors?.length ? 'error' : 'ok';
        return response;
      } finally {
        span.setAttribute('graphql.outcome', outcome);
        metrics.subgraphFetches.observe({ subgraph: this.subgraph, outcome }, (performance.now() - started) / 1000);
      }
    });
  }
}

/**
 * One data source per subgraph and URL, made once and handed out to every caller: the HTTP
 * gateway and the subscription server then share each subgraph's keep-alive pool and in-flight
 * queries. Each signs with the gateway's `signer`.
 */
export function sharedDataSources(signer: ServiceSigner, observers?: FetchObservers): DataSourceFactory {
  const sources = new Map<string, AuthenticatedDataSource>();
  return (serviceName, url) => {
    const key = `${serviceName} ${url}`;
    let source = sources.get(key);
    if (!source) {
      source = new AuthenticatedDataSource(url, serviceName, signer, observers);
      sources.set(key, source);
    }
    return source;
  };
}
