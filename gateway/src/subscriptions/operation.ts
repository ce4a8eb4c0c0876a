/**
 * Prepares an operation sent over the socket, before anything runs: its size, parsing,
 * validation against the current supergraph's API schema, the gateway's limits, variable
 * coercion and, for a subscription, its plan. Also keeps what is derived from each supergraph
 * SDL (planner, subgraph URLs, entity data sources), rebuilt only when the SDL changes.
 */
import { GraphQLError, getOperationAST, getVariableValues, parse, validate, type DocumentNode, type ExecutionArgs } from 'graphql';
import type { SubscribePayload } from 'graphql-ws';
import type { GraphQLDataSource, ServiceMap } from '@apollo/gateway';
import type { QueryPlannerConfig } from '@apollo/query-planner';
import { asGraphQLError, ErrorCode } from '@chat/shared/errors';
import { AuthenticatedDataSource } from '../authenticated-datasource';
import { documentSizeError, queryLimitRules, type QueryLimits } from '../limits';
import type { ConnectionState } from './connection';
import { createSupergraphPlanner, type SubscriptionPlan, type SupergraphPlanner } from './planner';
import { SubscriptionErrorCode } from './protocol';

/** What operations are prepared against: the supergraph, its subgraphs' URLs and data sources, the limits. */
export interface SupergraphOptions {
  /** Fixed supergraph SDL (use `getSupergraphSdl` to follow gateway updates). */
  readonly supergraphSdl?: string;
  /** Current core supergraph SDL, e.g. the last one from `gateway.onSchemaLoadOrUpdate`. */
  readonly getSupergraphSdl?: () => string | undefined;
  /** HTTP URL of a subgraph (default: the URL recorded in the supergraph). */
  readonly serviceUrl?: (serviceName: string) => string;
  /** Data source for entity fetches to a subgraph (default: an `AuthenticatedDataSource` of its own, without fetch observers). */
  readonly dataSource?: (serviceName: string, url: string) => GraphQLDataSource;
  /** Query planner configuration. */
  readonly queryPlannerConfig?: QueryPlannerConfig;
  /** Size, depth, alias, cost and response-size limits, the gateway's over HTTP too (default: none). */
  readonly limits?: QueryLimits;
}

/** Everything derived from one supergraph SDL. */
export interface SupergraphState {
  readonly planner: SupergraphPlanner;
  readonly serviceUrl: (serviceName: string) => string;
  readonly dataSources: ServiceMap;
}

/** What `onSubscribe` hands to `subscribe`/`execute` as `contextValue`. */
export interface PreparedOperation {
  /** The connection it came on. */
  readonly connection: ConnectionState;
  /** The supergraph it was validated (and planned) against. */
  readonly supergraph: SupergraphState;
  /** Its text as the client sent it. */
  readonly query: string;
  /** Variables as the client sent them (for the `executeOperation` hook, which coerces them itself). */
  readonly rawVariables: Record<string, unknown>;
  /** Variables coerced, defaults applied (for the plan's fetches). */
  readonly variables: Record<string, unknown>;
  /** A subscription's plan; undefined for a query or mutation. */
  readonly plan?: SubscriptionPlan;
}

/** Prepares one operation of a connection: graphql-ws execution arguments, or the errors refusing it. */
export type OperationPreparer = (connection: ConnectionState, payload: SubscribePayload) => ExecutionArgs | readonly GraphQLError[];

/** The refusal of a query or mutation over the socket when the server runs none. */
export function operationNotSupportedError(): GraphQLError {
  return new GraphQLError('Only subscriptions are served over this WebSocket; send queries and mutations over HTTP', {
    extensions: { code: SubscriptionErrorCode.OperationNotSupported },
  });
}

/** A preparer over the current supergraph; queries and mutations are refused unless `servesQueries`. */
export function createOperationPreparer(options: SupergraphOptions, servesQueries: boolean): OperationPreparer {
  const currentSupergraph = supergraphCache(options);
  return (connection, payload) => {
    const tooLarge = options.limits && documentSizeError(payload.query, options.limits.maxDocumentBytes);
    if (tooLarge) return [tooLarge];
    let supergraph: SupergraphState;
    let document: DocumentNode;
    try {
      supergraph = currentSupergraph();
      document = parse(payload.query);
    } catch (error) {
      return [asGraphQLError(error)];
    }
    const schema = supergraph.planner.apiSchema;
    const validationErrors = validate(schema, document);
    // The code Apollo Server gives them over HTTP, on every transport.
    if (validationErrors.length > 0) return validationErrors.map((e) => withCode(e, VALIDATION_FAILED_CODE));
    if (options.limits) {
      const limitErrors = validate(schema, document, queryLimitRules(options.limits, payload.variables));
      if (limitErrors.length > 0) return limitErrors;
    }
    const operationName = payload.operationName ?? undefined;
    const operation = getOperationAST(document, operationName);
    if (!operation) return [new GraphQLError('Unable to identify operation', { extensions: { code: ErrorCode.BAD_USER_INPUT } })];
    const rawVariables = (payload.variables ?? {}) as Record<string, unknown>;
    const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], rawVariables);
    if (coerced.errors) {
      return coerced.errors.map((e) => new GraphQLError(e.message, { nodes: e.nodes, extensions: { code: ErrorCode.BAD_USER_INPUT } }));
    }
    let plan: SubscriptionPlan | undefined;
    if (operation.operation === 'subscription') {
      try {
        plan = supergraph.planner.plan(document, operationName);
      } catch (error) {
        return [
          new GraphQLError(`Could not plan subscription: ${error instanceof Error ? error.message : String(error)}`, {
            extensions: { code: SubscriptionErrorCode.PlanningFailed },
          }),
        ];
      }
    } else if (!servesQueries) {
      return [operationNotSupportedError()];
    }
    const contextValue: PreparedOperation = { connection, supergraph, query: payload.query, rawVariables, variables: coerced.coerced, plan };
    return { schema, document, operationName, variableValues: rawVariables, contextValue };
  };
}

/** Apollo Server's code of an operation that does not validate against the schema. */
export const VALIDATION_FAILED_CODE = 'GRAPHQL_VALIDATION_FAILED';

/** `error` with `code` in its extensions, unless it has one. */
function withCode(error: GraphQLError, code: string): GraphQLError {
  if (error.extensions.code !== undefined) return error;
  return new GraphQLError(error.message, { nodes: error.nodes, source: error.source, positions: error.positions, path: error.path, originalError: error.originalError, extensions: { ...error.extensions, code } });
}

/** The state of the current supergraph SDL, rebuilt when the SDL changes; throws until one is loaded. */
function supergraphCache(options: SupergraphOptions): () => SupergraphState {
  let current: { sdl: string; state: SupergraphState } | undefined;
  return () => {
    const sdl = options.getSupergraphSdl ? options.getSupergraphSdl() : options.supergraphSdl;
    if (!sdl) {
      throw new GraphQLError('The gateway has not loaded a supergraph yet', {
        extensions: { code: SubscriptionErrorCode.SupergraphNotLoaded },
      });
    }
    if (current?.sdl !== sdl) current = { sdl, state: buildSupergraphState(sdl, options) };
    return current.state;
  };
}

/** Builds planner, URLs and entity data sources for one supergraph SDL. */
function buildSupergraphState(sdl: string, options: SupergraphOptions): SupergraphState {
  const planner = createSupergraphPlanner(sdl, { queryPlannerConfig: options.queryPlannerConfig });
  const recorded = new Map(planner.subgraphs.map((s) => [s.name, s.url]));
  const serviceUrl = (name: string): string => {
    const url = options.serviceUrl?.(name) ?? recorded.get(name);
    if (!url) throw new Error(`No URL known for subgraph "${name}"`);
    return url;
  };
  const makeDataSource = options.dataSource ?? ((name: string, url: string) => new AuthenticatedDataSource(url, name));
  const dataSources: ServiceMap = Object.create(null);
  for (const { name } of planner.subgraphs) dataSources[name] = makeDataSource(name, serviceUrl(name));
  return { planner, serviceUrl, dataSources };
}
