/**
 * Runs a prepared operation for graphql-ws and shapes what goes back: a subscription through
 * its plan (upstream primary fetch, then the rest per event), a query or mutation through the
 * `executeOperation` hook; terminal subscription errors expanded; every error formatted as over
 * HTTP (internal failures masked); an over-size result replaced.
 */
import { GraphQLError, type ExecutionArgs, type ExecutionResult, type GraphQLFormattedError } from 'graphql';
import type { FormattedExecutionResult } from 'graphql-ws';
import { SpanKind, type Tracer } from '@opentelemetry/api';
import { asGraphQLError, contractError, ErrorCode } from '@chat/shared/errors';
import type { GatewayErrorFormatter } from '../format-error';
import { responseSizeError, type QueryLimits } from '../limits';
import { connectionContext, type SubscriptionAuth } from './connection';
import { operationNotSupportedError, type PreparedOperation } from './operation';
import { shareable, type SharedSubscriptions } from './shared';
import { startGatewaySubscription, SubscriptionTerminatedError } from './subscribe';

/** Query or mutation received over the socket, for the `executeOperation` hook. */
export interface SocketOperationRequest {
  /** Operation text as sent by the client. */
  readonly query: string;
  /** Parsed and validated document. */
  readonly document: ExecutionArgs['document'];
  /** Requested operation name. */
  readonly operationName?: string;
  /** Raw variables from the client. */
  readonly variables: Record<string, unknown>;
  /** What `authenticate` returned for this connection. */
  readonly auth: SubscriptionAuth;
  /** Where the client connects from. */
  readonly clientAddress?: string;
  /** The connection's `connection_init` payload. */
  readonly connectionParams?: Readonly<Record<string, unknown>>;
}

/** What the `executeOperation` hook may answer: an execution result, or one with formatted errors. */
export type SocketOperationResult = ExecutionResult | { data?: unknown; errors?: readonly GraphQLFormattedError[] };

/** How prepared operations run. */
export interface DispatchOptions {
  /** Executes queries/mutations sent over the socket; when absent they are refused with an error. */
  readonly executeOperation?: (request: SocketOperationRequest) => Promise<SocketOperationResult>;
  /** Bound of each subscription's entity cache. */
  readonly entityCacheMaxEntries?: number;
  /** Each subscription starts in a span of this tracer; its upstream subscribe carries that trace. */
  readonly tracer?: Tracer;
  /** Formats each error sent (results, events and terminal errors), as the gateway's HTTP answers are; default: as they are. */
  readonly formatError?: GatewayErrorFormatter;
  /** Identical subscriptions (same credentials, operation and variables) run once for all their clients (shared.ts). */
  readonly shared?: SharedSubscriptions;
}

/** graphql-ws's `subscribe` and `execute`, over prepared operations. */
export interface Dispatcher {
  subscribe(args: ExecutionArgs): AsyncGenerator<ExecutionResult, undefined, unknown> | ExecutionResult;
  execute(args: ExecutionArgs): Promise<ExecutionResult>;
}

/** Runs prepared operations as `options` say. */
export function createDispatcher(options: DispatchOptions): Dispatcher {
  return {
    subscribe(args) {
      const { connection, supergraph, plan, query, variables } = args.contextValue as PreparedOperation;
      if (!plan) return { errors: [contractError(ErrorCode.INTERNAL_SERVER_ERROR, 'Subscription was not planned')] };
      const run = (upstream: typeof connection.upstream) =>
        startGatewaySubscription({
          planner: supergraph.planner,
          plan,
          upstream,
          serviceUrl: supergraph.serviceUrl,
          dataSources: supergraph.dataSources,
          query,
          variables,
          context: connectionContext(connection),
          entityCacheMaxEntries: options.entityCacheMaxEntries,
        });
      const { shared } = options;
      const { authorization } = connection.auth;
      const start = shared && shareable(args.document)
        ? () => shared.join(JSON.stringify([authorization, query, args.operationName ?? null, variables]), authorization, run)
        : () => run(connection.upstream);
      if (!options.tracer) return start();
      // A short span for the start: the upstream subscribe made inside it carries its trace to the subgraph.
      return options.tracer.startActiveSpan(`subscription ${args.operationName ?? '(anonymous)'}`, { kind: SpanKind.SERVER }, (span) => {
        try {
          return start();
        } finally {
          span.end();
        }
      });
    },
    async execute(args) {
      const { connection, query, rawVariables } = args.contextValue as PreparedOperation;
      if (!options.executeOperation) return { errors: [operationNotSupportedError()] };
      try {
        const result = await options.executeOperation({
          query,
          document: args.document,
          operationName: args.operationName ?? undefined,
          variables: rawVariables,
          auth: connection.auth,
          clientAddress: connection.clientAddress,
          connectionParams: connection.connectionParams,
        });
        return toExecutionResult(result);
      } catch (error) {
        return { errors: [asGraphQLError(error)] };
      }
    },
  };
}

/** The refusal to send in place of a result over the response-size limit, or undefined to send it as it is. */
export function limitedResult(result: ExecutionResult, limits: QueryLimits | undefined): FormattedExecutionResult | undefined {
  const tooLarge = limits && responseSizeError(result, limits.maxResponseBytes);
  return tooLarge ? { errors: [tooLarge.toJSON()] } : undefined;
}

/**
 * What to send for a result or event (graphql-ws `onNext`): the refusal when it is over the size
 * limit, else the result with its errors formatted; undefined to send it as it is.
 */
export function outgoingResult(result: ExecutionResult, options: { limits?: QueryLimits; formatError?: GatewayErrorFormatter }): FormattedExecutionResult | undefined {
  const { formatError } = options;
  if (!formatError || !result.errors?.length) return limitedResult(result, options.limits);
  const { errors, ...rest } = result;
  return limitedResult(result, options.limits) ?? { ...rest, errors: errors.map((error) => formatError(error.toJSON(), error)) };
}

/** Expands terminal subscription errors (upstream gone, upstream error) into the client's `error` payload, each formatted. */
export function formatTerminalErrors(errors: readonly GraphQLError[], formatError: GatewayErrorFormatter = (formatted) => formatted): GraphQLFormattedError[] {
  return errors
    .flatMap((error) => (error.originalError instanceof SubscriptionTerminatedError ? error.originalError.errors : [error]))
    .map((error) => formatError(error.toJSON(), error));
}

/** Converts a hook result (possibly with formatted, plain-object errors) to an ExecutionResult graphql-ws can send. */
function toExecutionResult(result: SocketOperationResult): ExecutionResult {
  const errors = result.errors?.map((e) =>
    e instanceof GraphQLError ? e : new GraphQLError(e.message, { path: e.path, extensions: e.extensions as Record<string, unknown> | undefined }),
  );
  return { data: (result.data ?? null) as ExecutionResult['data'], ...(errors?.length ? { errors } : {}) };
}
