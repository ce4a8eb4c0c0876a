/**
 * The transport-independent part of gateway subscriptions, written once for graphql-ws, SSE and
 * multipart HTTP alike: connections (authentication, quotas, token expiry, revocations, gauges),
 * preparing operations (limits, validation, planning) and running them (upstream primary fetch,
 * per-event execution), and shaping what is sent (errors formatted, over-size results refused).
 */
import { GraphQLError, type ExecutionArgs, type ExecutionResult, type GraphQLFormattedError } from 'graphql';
import type { FormattedExecutionResult, SubscribePayload } from 'graphql-ws';
import { asGraphQLError } from '@chat/shared/errors';
import { createConnections, type ConnectionOptions, type ConnectionState, type Connections } from './connection';
import { createDispatcher, formatTerminalErrors, outgoingResult, type Dispatcher, type DispatchOptions } from './dispatch';
import { createOperationPreparer, type PreparedOperation, type SupergraphOptions } from './operation';
import { createSharedSubscriptions } from './shared';
import { SubscriptionTerminatedError } from './subscribe';
import { createUpstreamPool } from './upstream';

/** Everything the runner needs: how connections are accepted, what operations are prepared against, how they run. */
export interface OperationRunnerOptions extends ConnectionOptions, SupergraphOptions, Omit<DispatchOptions, 'shared'> {
  /** Identical subscriptions of the same credentials run once for all their clients (shared.ts); default false. */
  readonly shareSubscriptions?: boolean;
}

/** A prepared operation with the transport's id for it. */
export type RunningOperation = PreparedOperation & { readonly operationId: string };

/** The shared operation runner of the gateway's subscription transports. */
export interface OperationRunner {
  /** Every open connection, whatever its transport (per-user quotas count them all). */
  readonly connections: Connections;
  /** Checks credentials as connections do (`{ authorization }`); throws to refuse. */
  readonly authenticate: OperationRunnerOptions['authenticate'];
  /** `subscribe` and `execute` of prepared operations. */
  readonly dispatcher: Dispatcher;
  /**
   * Prepares operation `id` of `connection`: the connection's subscription quota, then size,
   * parsing, validation, limits, variables and plan. The operation counts as open from here
   * until `finished(connection, id)`.
   */
  prepare(connection: ConnectionState, id: string, payload: SubscribePayload): ExecutionArgs | readonly GraphQLError[];
  /** Operation `id` of `connection` ended (completed, failed or stopped by the client). */
  finished(connection: ConnectionState | undefined, id: string): void;
  /** What to send for a result: errors formatted, an over-size result replaced by its refusal. */
  outgoing(result: ExecutionResult): FormattedExecutionResult | ExecutionResult;
  /** The client's errors for a subscription's terminal failure (upstream gone, upstream error), formatted. */
  terminalErrors(errors: readonly GraphQLError[]): GraphQLFormattedError[];
  /**
   * Runs prepared `args` (from `prepare`) as a stream whose terminal failure is its last result's
   * `errors`, for transports that end a stream with a result rather than an error message.
   */
  stream(args: ExecutionArgs): Promise<AsyncGenerator<ExecutionResult | FormattedExecutionResult, undefined, unknown> | ExecutionResult>;
  /** Shared runs now, and their listeners (when `shareSubscriptions`). */
  sharedStats(): { runs: number; listeners: number };
  /** Forgets every connection and closes their upstream sockets (on shutdown). */
  dispose(): Promise<void>;
}

/** Creates the runner the transports share. */
export function createOperationRunner(options: OperationRunnerOptions): OperationRunner {
  const connections = createConnections(options);
  const prepareOperation = createOperationPreparer(options, options.executeOperation !== undefined);
  const shared = options.shareSubscriptions
    ? createSharedSubscriptions((authorization) =>
        createUpstreamPool({ authorization, serviceToken: options.upstreamServiceToken, ackTimeoutMs: options.upstreamAckTimeoutMs }),
      )
    : undefined;
  const dispatcher = createDispatcher({ ...options, shared });
  const terminalErrors = (errors: readonly GraphQLError[]) => formatTerminalErrors(errors, options.formatError);
  return {
    connections,
    authenticate: options.authenticate,
    dispatcher,
    prepare(connection, id, payload) {
      const refused = connections.subscriptionRefusal(connection);
      if (refused) return [refused];
      const prepared = prepareOperation(connection, payload);
      if (Array.isArray(prepared)) return prepared;
      const args = prepared as ExecutionArgs;
      const operation = args.contextValue as PreparedOperation;
      connections.subscribed(connection, id);
      const running: RunningOperation = { ...operation, operationId: id };
      return { ...args, contextValue: running };
    },
    finished: (connection, id) => connections.unsubscribed(connection, id),
    // A result whose errors are formatted already (a terminal failure from `stream`) is only size-checked.
    outgoing: (result) => outgoingResult(result, result.errors?.every((e) => e instanceof GraphQLError) ? options : { limits: options.limits }) ?? result,
    terminalErrors,
    async stream(args) {
      const { plan } = args.contextValue as PreparedOperation;
      if (!plan) return dispatcher.execute(args);
      const result = dispatcher.subscribe(args);
      return Symbol.asyncIterator in result ? endingWithErrors(result, terminalErrors) : result;
    },
    sharedStats: () => shared?.stats() ?? { runs: 0, listeners: 0 },
    async dispose() {
      await shared?.dispose();
      await connections.disposeAll();
    },
  };
}

/**
 * The same stream, its terminal failure turned into a last result with the failure's errors. Not an
 * `async function*`: its `return()` must reach the inner stream at once, even while a `next()` waits.
 */
function endingWithErrors<T>(
  inner: AsyncGenerator<T, undefined, unknown>,
  terminalErrors: (errors: readonly GraphQLError[]) => GraphQLFormattedError[],
): AsyncGenerator<T | FormattedExecutionResult, undefined, unknown> {
  let ended = false;
  const done = (): IteratorResult<never, undefined> => ({ done: true, value: undefined });
  const iterator: AsyncGenerator<T | FormattedExecutionResult, undefined, unknown> = {
    async next() {
      if (ended) return done();
      try {
        const step = await inner.next();
        if (step.done) ended = true;
        return step;
      } catch (error) {
        ended = true;
        const errors = error instanceof SubscriptionTerminatedError ? error.errors : [asGraphQLError(error)];
        return { done: false, value: { errors: terminalErrors(errors) } };
      }
    },
    async return() {
      ended = true;
      return inner.return(undefined);
    },
    async throw(error: unknown) {
      ended = true;
      return inner.throw(error);
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
    async [Symbol.asyncDispose]() {
      await iterator.return(undefined);
    },
  };
  return iterator;
}
