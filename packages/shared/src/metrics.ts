/**
 * Prometheus metrics (prom-client): one registry per service, served at /metrics, with the
 * metrics every service has; services add their own to `registry`.
 */
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import type { Route } from './http';

/** Where every service serves its metrics. */
export const METRICS_PATH = '/metrics';
/** Prefix of every metric name. */
export const METRIC_PREFIX = 'chat_';
/** Distinct operation names kept as labels; later ones count as OTHER_OPERATION (clients choose names: bound the series). */
export const MAX_OPERATION_NAMES = 200;
export const OTHER_OPERATION = '(other)';
/** Distinct model names kept as labels. */
export const MAX_MODEL_NAMES = 50;
/** Latency buckets from a cached read to a slow LLM call, in seconds. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Label values chosen by clients (operation names, model names), kept to `max` distinct ones; the rest are OTHER_OPERATION. */
export class BoundedLabel {
  private readonly seen = new Set<string>();
  constructor(private readonly max: number) {}
  of(value: string): string {
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.max) return OTHER_OPERATION;
    this.seen.add(value);
    return value;
  }
}

/** The metrics of one service (gateway or subgraph). */
export class ServiceMetrics {
  readonly registry = new Registry();
  /** GraphQL operations by name, type and outcome (`ok` or the first error's code). */
  readonly operations: Histogram<'operation' | 'type' | 'outcome'>;
  /** Database round trips. */
  readonly dbQueries: Histogram<'engine'>;
  /** Requests refused by a rate limit or throttle, by which. */
  readonly rateLimitRefusals: Counter<'limit'>;
  private readonly operationNames = new BoundedLabel(MAX_OPERATION_NAMES);

  constructor(readonly service: string) {
    this.registry.setDefaultLabels({ service });
    // Process CPU, memory, event-loop lag and GC, per service (several services may share a process).
    collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
    const registers = [this.registry];
    this.operations = new Histogram({
      name: `${METRIC_PREFIX}graphql_operation_duration_seconds`,
      help: 'GraphQL operations served, by operation name, type and outcome.',
      labelNames: ['operation', 'type', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.dbQueries = new Histogram({
      name: `${METRIC_PREFIX}db_query_duration_seconds`,
      help: 'Database queries, by engine.',
      labelNames: ['engine'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.rateLimitRefusals = new Counter({
      name: `${METRIC_PREFIX}rate_limit_refusals_total`,
      help: 'Requests refused by a rate limit or sign-in throttle.',
      labelNames: ['limit'],
      registers,
    });
  }

  /** The label value for an operation name, bounded to MAX_OPERATION_NAMES distinct values. */
  operationLabel(name: string | null | undefined): string {
    return this.operationNames.of(name || '(anonymous)');
  }

  /** The /metrics route: the registry in Prometheus' text format. */
  route(): Route {
    return async (_req, res) => {
      const body = await this.registry.metrics();
      res.writeHead(200, { 'content-type': this.registry.contentType });
      res.end(body);
    };
  }
}
