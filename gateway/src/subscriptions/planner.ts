/**
 * Plans subscription operations against a supergraph with `@apollo/query-planner`.
 *
 * One `SupergraphPlanner` is built per supergraph SDL (the core SDL the gateway
 * reports through `onSchemaLoadOrUpdate`); it owns the schemas `executeQueryPlan`
 * needs and a small per-supergraph plan cache.
 */
import { print, type DocumentNode, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import { Supergraph, operationFromDocument, type Schema } from '@apollo/federation-internals';
import { QueryPlanner, type FetchNode, type PlanNode, type QueryPlannerConfig } from '@apollo/query-planner';
import { buildOperationContext } from '@apollo/gateway';
import { DEFAULT_PLAN_CACHE_MAX_ENTRIES } from './protocol';

/** The operation context type `executeQueryPlan` expects (not re-exported by name from @apollo/gateway). */
export type OperationContext = ReturnType<typeof buildOperationContext>;

/** A subscription plan: the primary fetch opened upstream, and the rest run for every event. */
export interface SubscriptionPlan {
  /** Fetch whose operation is a `subscription` against the owning subgraph. */
  readonly primary: FetchNode;
  /** Plan run for each event to resolve fields owned by other subgraphs (absent when none). */
  readonly rest?: PlanNode;
  /** The client's operation, resolved against the API schema. */
  readonly operation: OperationDefinitionNode;
  /** Operation context (API schema + operation + fragments) for `executeQueryPlan`. */
  readonly operationContext: OperationContext;
}

/** A subgraph as declared in the supergraph (`join__Graph`). */
export interface SubgraphInfo {
  /** Subgraph (service) name, as used in plan `serviceName`s. */
  readonly name: string;
  /** The subgraph's HTTP URL recorded at composition time. */
  readonly url: string;
}

/** Everything derived from one supergraph SDL that subscription execution needs. */
export interface SupergraphPlanner {
  /** The SDL this planner was built from. */
  readonly supergraphSdl: string;
  /** API schema as graphql-js schema (validation, operation context). */
  readonly apiSchema: GraphQLSchema;
  /** API schema as federation-internals `Schema` (6th argument of `executeQueryPlan`). */
  readonly apiFederationSchema: Schema;
  /** Full supergraph schema as graphql-js schema (5th argument of `executeQueryPlan`). */
  readonly supergraphSchema: GraphQLSchema;
  /** Subgraphs listed in the supergraph. */
  readonly subgraphs: readonly SubgraphInfo[];
  /** Plans a validated subscription document; throws if it is not a plannable subscription. */
  plan(document: DocumentNode, operationName?: string | null): SubscriptionPlan;
}

/** Options for {@link createSupergraphPlanner}. */
export interface SupergraphPlannerOptions {
  /** Passed to `new QueryPlanner(...)`. */
  readonly queryPlannerConfig?: QueryPlannerConfig;
  /** Bound of the plan cache. */
  readonly maxCachedPlans?: number;
  /** Validate the supergraph while building it (the gateway does so outside production). */
  readonly validateSupergraph?: boolean;
}

/** Builds a planner for one supergraph SDL. */
export function createSupergraphPlanner(supergraphSdl: string, options: SupergraphPlannerOptions = {}): SupergraphPlanner {
  const supergraph = Supergraph.build(supergraphSdl, { validateSupergraph: options.validateSupergraph ?? false });
  const apiFederationSchema = supergraph.apiSchema();
  const apiSchema = apiFederationSchema.toGraphQLJSSchema();
  const supergraphSchema = supergraph.schema.toGraphQLJSSchema();
  const queryPlanner = new QueryPlanner(supergraph, options.queryPlannerConfig);
  const subgraphs = supergraph.subgraphsMetadata().map(({ name, url }) => ({ name, url }));
  const maxCachedPlans = options.maxCachedPlans ?? DEFAULT_PLAN_CACHE_MAX_ENTRIES;
  const cache = new Map<string, { primary: FetchNode; rest?: PlanNode }>();

  function plan(document: DocumentNode, operationName?: string | null): SubscriptionPlan {
    const name = operationName ?? undefined;
    const operationContext = buildOperationContext({ schema: apiSchema, operationDocument: document, operationName: name });
    const { operation } = operationContext;
    if (operation.operation !== 'subscription') {
      throw new Error(`Expected a subscription operation, got a ${operation.operation}`);
    }
    const key = `${name ?? ''}\u0000${print(document)}`;
    let nodes = cache.get(key);
    if (!nodes) {
      nodes = splitSubscriptionPlan(queryPlanner, apiFederationSchema, document, name);
      cache.set(key, nodes);
      if (cache.size > maxCachedPlans) cache.delete(cache.keys().next().value as string);
    }
    return { ...nodes, operation, operationContext };
  }

  return { supergraphSdl, apiSchema, apiFederationSchema, supergraphSchema, subgraphs, plan };
}

/** Runs the query planner and splits its `Subscription` root node into primary fetch + rest. */
function splitSubscriptionPlan(
  queryPlanner: QueryPlanner,
  apiSchema: Schema,
  document: DocumentNode,
  operationName: string | undefined,
): { primary: FetchNode; rest?: PlanNode } {
  const operation = operationFromDocument(apiSchema, document, { operationName, validate: false });
  const { node } = queryPlanner.buildQueryPlan(operation);
  if (!node || node.kind !== 'Subscription') {
    throw new Error(`Query planner returned ${node ? `a ${node.kind} node` : 'an empty plan'} for a subscription`);
  }
  const rest = node.rest && !(node.rest.kind === 'Sequence' && node.rest.nodes.length === 0) ? node.rest : undefined;
  return rest ? { primary: node.primary, rest } : { primary: node.primary };
}
