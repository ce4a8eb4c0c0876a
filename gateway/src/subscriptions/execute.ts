/**
 * Runs the `rest` of a subscription plan for each upstream event with the gateway's
 * own executor (`executeQueryPlan` from @apollo/gateway), so fields owned by other
 * subgraphs resolve exactly as they do for queries.
 *
 * The plan executed per event is `Sequence [primary, rest]`; the primary service's
 * data source answers the primary fetch with the event instead of fetching.
 * Entity fetches are cached per subscription (keyed by query + variables, which
 * include the representations), and null nested entities never cause a fetch
 * (executeQueryPlan skips fetches with no non-null representations).
 */
import type { ExecutionResult } from 'graphql';
import type { FormattedExecutionResult } from 'graphql-ws';
import {
  executeQueryPlan,
  type GraphQLDataSource,
  type GraphQLDataSourceProcessOptions,
  type ServiceMap,
} from '@apollo/gateway';
import type { QueryPlan } from '@apollo/query-planner';
import { asGraphQLError } from '@chat/shared/errors';
import type { SubscriptionPlan, SupergraphPlanner } from './planner';
import { DEFAULT_ENTITY_CACHE_MAX_ENTRIES } from './protocol';

/** The request context type `executeQueryPlan` takes (3rd argument). */
export type GatewayRequestContext = Parameters<typeof executeQueryPlan>[2];

/**
 * `GraphQLDataSourceRequestKind.INCOMING_OPERATION`: the enum is not exported from the
 * @apollo/gateway entry point (only the data source types are), so its value is named here.
 */
const INCOMING_OPERATION_KIND = 'incoming operation';

/** The response type of a data source. */
type DataSourceResponse = Awaited<ReturnType<GraphQLDataSource['process']>>;

/** Per-subscription store of entity responses. */
export interface EntityCache {
  /** Returns the cached (or in-flight) response for a key. */
  get(key: string): Promise<DataSourceResponse> | undefined;
  /** Stores a response promise, evicting the oldest entry beyond the bound. */
  set(key: string, value: Promise<DataSourceResponse>): void;
  /** Drops one entry (used when a fetch failed). */
  delete(key: string): void;
  /** Number of cached entries. */
  readonly size: number;
}

/** Creates a bounded, insertion-ordered entity cache (one per client subscription). */
export function createEntityCache(maxEntries = DEFAULT_ENTITY_CACHE_MAX_ENTRIES): EntityCache {
  const entries = new Map<string, Promise<DataSourceResponse>>();
  return {
    get: (key) => entries.get(key),
    set(key, value) {
      entries.delete(key);
      entries.set(key, value);
      if (entries.size > maxEntries) entries.delete(entries.keys().next().value as string);
    },
    delete: (key) => void entries.delete(key),
    get size() {
      return entries.size;
    },
  };
}

/** Wraps a data source so entity (`_entities`) fetches are served from `cache` when identical. */
export function cachingDataSource(serviceName: string, inner: GraphQLDataSource, cache: EntityCache): GraphQLDataSource {
  return {
    async process(options: GraphQLDataSourceProcessOptions): Promise<DataSourceResponse> {
      const { request } = options;
      const isEntityFetch =
        (options.kind as string) === INCOMING_OPERATION_KIND &&
        request.variables !== undefined &&
        'representations' in request.variables;
      if (!isEntityFetch) return inner.process(options);
      const key = `${serviceName}\u0000${request.query ?? ''}\u0000${JSON.stringify(request.variables)}`;
      let pending = cache.get(key);
      if (!pending) {
        pending = inner.process(options).then((response) => {
          if (response.errors?.length) cache.delete(key);
          return response;
        });
        pending.catch(() => cache.delete(key));
        cache.set(key, pending);
      }
      const response = await pending;
      // executeQueryPlan mutates what it merges (rewrites, __typename): hand out a copy.
      return { data: structuredClone(response.data), errors: response.errors, extensions: response.extensions };
    },
  };
}

/** Options for {@link createEventExecutor}. */
export interface EventExecutorOptions {
  /** Supergraph schemas used for execution. */
  readonly planner: SupergraphPlanner;
  /** The subscription's plan. */
  readonly plan: SubscriptionPlan;
  /** Data sources by service name, used for entity fetches of `rest`. */
  readonly dataSources: ServiceMap;
  /** Client operation text (for the request context). */
  readonly query: string;
  /** Coerced client variables. */
  readonly variables: Record<string, unknown>;
  /** Value given to data sources as `context` (e.g. `{ authorization, viewer }`). */
  readonly context: Record<string, unknown>;
  /** Entity cache for this subscription (a fresh one if omitted). */
  readonly entityCache?: EntityCache;
}

/** Turns one upstream event into the client-facing result (runs `rest`, shapes the response). */
export type EventExecutor = (event: FormattedExecutionResult<Record<string, unknown>, unknown>) => Promise<ExecutionResult>;

/** Creates the per-event executor of one client subscription. */
export function createEventExecutor(options: EventExecutorOptions): EventExecutor {
  const { planner, plan, query, variables, context } = options;
  const entityCache = options.entityCache ?? createEntityCache();
  const cachedSources: ServiceMap = Object.create(null);
  for (const [name, source] of Object.entries(options.dataSources)) {
    cachedSources[name] = cachingDataSource(name, source, entityCache);
  }
  const queryPlan: QueryPlan = {
    kind: 'QueryPlan',
    node: plan.rest ? { kind: 'Sequence', nodes: [plan.primary, plan.rest] } : plan.primary,
  };
  const primaryService = plan.primary.serviceName;

  return async (event) => {
    const serviceMap: ServiceMap = Object.create(null);
    Object.assign(serviceMap, cachedSources);
    serviceMap[primaryService] = eventDataSource(plan.primary.operation, event, cachedSources[primaryService]);
    const requestContext = buildRequestContext(planner, plan, query, variables, context);
    const result = await executeQueryPlan(
      queryPlan,
      serviceMap,
      requestContext,
      plan.operationContext,
      planner.supergraphSchema,
      planner.apiFederationSchema,
    );
    return normalizeResult(result);
  };
}

/** Data source for the primary service: answers the primary fetch with the event, delegates anything else. */
function eventDataSource(
  primaryOperation: string,
  event: FormattedExecutionResult<Record<string, unknown>, unknown>,
  fallback?: GraphQLDataSource): GraphQLDataSource {
  return {
    async process(options) {
      if (options.request.query === primaryOperation) {
        return { data: (event.data as Record<string, unknown> | null | undefined) ?? null, errors: event.errors };
      }
      if (!fallback) throw new Error('No data source for the subscription primary service');
      return fallback.process(options);
    },
  };
}

/**
 * Minimal request context for `executeQueryPlan`. It reads `request.variables`,
 * `context`, `logger` (falls back to console) and `metrics` (must be an object:
 * subgraph errors are appended to `metrics.nonFtv1ErrorPaths`); data sources may
 * read `overallCachePolicy`. The other fields are filled for completeness.
 */
function buildRequestContext(
  planner: SupergraphPlanner,
  plan: SubscriptionPlan,
  query: string,
  variables: Record<string, unknown>,
  context: Record<string, unknown>,
): GatewayRequestContext {
  const operationName = plan.operation.name?.value ?? null;
  return {
    request: { query, operationName: operationName ?? undefined, variables },
    context,
    metrics: {},
    schema: planner.apiSchema,
    document: { kind: 'Document', definitions: [plan.operation, ...Object.values(plan.operationContext.fragments)] },
    source: query,
    operation: plan.operation,
    operationName,
    overallCachePolicy: undefined,
  } as unknown as GatewayRequestContext;
}

/** Ensures every error is a GraphQLError (graphql-ws serialises them with `toJSON()`). */
function normalizeResult(result: ExecutionResult): ExecutionResult {
  if (!result.errors?.length) return { data: result.data ?? null, ...(result.extensions ? { extensions: result.extensions } : {}) };
  return { ...result, errors: result.errors.map(asGraphQLError) };
}
