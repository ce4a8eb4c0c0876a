/** The gateway's own metrics: subgraph fetches, graphql-ws sockets and the HTTP streams (SSE, multipart). */
import { LATENCY_BUCKETS, METRIC_PREFIX } from '@chat/shared/metrics';
import { Gauge, Histogram, type Registry } from 'prom-client';

/** Subgraph fetch latency, and the graphql-ws connections and subscriptions open now, in `registry`. */
export class GatewayMetrics {
  readonly subgraphFetches: Histogram<'subgraph' | 'outcome'>;
  readonly connections: Gauge;
  readonly subscriptions: Gauge;
  readonly streamConnections: Gauge<'transport'>;
  readonly streamSubscriptions: Gauge<'transport'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.subgraphFetches = new Histogram({
      name: `${METRIC_PREFIX}subgraph_fetch_duration_seconds`,
      help: 'Fetches from the gateway to a subgraph, by subgraph and outcome (ok, error: GraphQL errors, failed: no answer).',
      labelNames: ['subgraph', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.connections = new Gauge({ name: `${METRIC_PREFIX}ws_connections`, help: 'Open graphql-ws connections (acknowledged).', registers });
    this.subscriptions = new Gauge({ name: `${METRIC_PREFIX}ws_subscriptions`, help: 'Open graphql-ws subscriptions.', registers });
    this.streamConnections = new Gauge({ name: `${METRIC_PREFIX}stream_connections`, help: 'Open subscription connections over HTTP, by transport (sse, multipart).', labelNames: ['transport'], registers });
    this.streamSubscriptions = new Gauge({ name: `${METRIC_PREFIX}stream_subscriptions`, help: 'Open operations over HTTP streams, by transport (sse, multipart).', labelNames: ['transport'], registers });
  }
}
