/**
 * Runs one client subscription: opens the plan's primary fetch upstream and turns
 * each upstream event into a client result with the per-event executor, in order.
 * The returned async generator is what graphql-ws iterates; its `return()` stops
 * the upstream subscription immediately.
 */
import type { ExecutionResult, GraphQLError } from 'graphql';
import type { ServiceMap } from '@apollo/gateway';
import { createChannel } from '@chat/shared/channel';
import { asGraphQLError } from '@chat/shared/errors';
import { createEntityCache, createEventExecutor } from './execute';
import type { SubscriptionPlan, SupergraphPlanner } from './planner';
import { toWebSocketUrl, type UpstreamPool } from './upstream';

/** Thrown by a subscription iterator to end it with these GraphQL errors (see `formatTerminalErrors`). */
export class SubscriptionTerminatedError extends Error {
  /** The errors reported to the client in the graphql-ws `error` message. */
  readonly errors: readonly GraphQLError[];

  constructor(errors: readonly GraphQLError[]) {
    super(errors.map((e) => e.message).join('; ') || 'Subscription terminated');
    this.name = 'SubscriptionTerminatedError';
    this.errors = errors;
  }
}

/** Options for {@link startGatewaySubscription}. */
export interface GatewaySubscriptionOptions {
  /** Supergraph the plan was made against. */
  readonly planner: SupergraphPlanner;
  /** The subscription's plan. */
  readonly plan: SubscriptionPlan;
  /** Upstream sockets of the client's connection. */
  readonly upstream: UpstreamPool;
  /** HTTP URL of a subgraph by name (its ws:// form is used for the primary fetch). */
  readonly serviceUrl: (serviceName: string) => string;
  /** Data sources by service name for the entity fetches of `rest`. */
  readonly dataSources: ServiceMap;
  /** Client operation text. */
  readonly query: string;
  /** Coerced client variables. */
  readonly variables: Record<string, unknown>;
  /** Context handed to data sources (e.g. `{ authorization, viewer }`). */
  readonly context: Record<string, unknown>;
  /** Bound of the per-subscription entity cache. */
  readonly entityCacheMaxEntries?: number;
}

/** Starts one gateway subscription and returns its result stream. */
export function startGatewaySubscription(options: GatewaySubscriptionOptions): AsyncGenerator<ExecutionResult, undefined, unknown> {
  const { plan, variables } = options;
  const { primary } = plan;
  const executeEvent = createEventExecutor({
    planner: options.planner,
    plan,
    dataSources: options.dataSources,
    query: options.query,
    variables,
    context: options.context,
    entityCache: createEntityCache(options.entityCacheMaxEntries),
  });

  let stopUpstream: (() => void) | undefined;
  let stopRequested = false;
  const { writer, iterator } = createChannel<ExecutionResult>(() => {
    stopRequested = true;
    stopUpstream?.();
  });

  // Events are executed one at a time, in arrival order; termination waits for pending events.
  let chain: Promise<void> = Promise.resolve();
  const enqueue = (step: () => Promise<void> | void): void => {
    chain = chain.then(step).catch((error: unknown) => writer.fail(asTerminalError(error)));
  };

  const primaryVariables: Record<string, unknown> = {};
  for (const name of primary.variableUsages ?? []) {
    if (variables[name] !== undefined) primaryVariables[name] = variables[name];
  }

  let url: string;
  try {
    url = toWebSocketUrl(options.serviceUrl(primary.serviceName));
  } catch (error) {
    writer.fail(asTerminalError(error));
    return iterator;
  }

  stopUpstream = options.upstream.subscribe(
    {
      serviceName: primary.serviceName,
      url,
      query: primary.operation,
      operationName: primary.operationName,
      variables: primaryVariables,
    },
    {
      next: (event) =>
        enqueue(async () => {
          if (writer.closed) return;
          writer.push(await executeEvent(event));
        }),
      error: (errors) => enqueue(() => writer.fail(new SubscriptionTerminatedError(errors))),
      complete: () => enqueue(() => writer.end()),
    },
  );
  if (stopRequested) stopUpstream();
  return iterator;
}

/** Wraps anything thrown while running a subscription as a terminal error. */
function asTerminalError(error: unknown): SubscriptionTerminatedError {
  if (error instanceof SubscriptionTerminatedError) return error;
  return new SubscriptionTerminatedError([asGraphQLError(error)]);
}
