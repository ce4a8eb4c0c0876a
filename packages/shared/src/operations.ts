/**
 * What every GraphQL server here records per operation: its span's name and attributes, its
 * latency and outcome in the service's metrics, and one log line (never variables or text).
 */
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import type { Logger } from './log';
import type { ServiceMetrics } from './metrics';

/** The outcome of an operation without errors. */
export const OK_OUTCOME = 'ok';
/** Operations a service polls (the gateway asks for revoked sessions every second): logged at debug, so logs show what people do. */
export const POLLED_OPERATIONS: ReadonlySet<string> = new Set(['RevokedSessions']);
/** Error codes that mean the server failed (the rest are the client's doing and leave the span OK). */
const SERVER_FAILURES = new Set(['INTERNAL_SERVER_ERROR', 'UNAVAILABLE']);

/** Observes each operation: names the active (HTTP) span after it, times it, logs it. */
export function operationsPlugin<TContext extends BaseContext & { viewer?: { id: string } | null }>(options: {
  metrics: ServiceMetrics;
  log: Logger;
}): ApolloServerPlugin<TContext> {
  const { metrics, log } = options;
  return {
    async requestDidStart({ contextValue }) {
      const started = performance.now();
      const span = trace.getActiveSpan();
      let operation: string | null = null;
      let type = 'unknown';
      return {
        async didResolveOperation({ operationName, operation: document }) {
          operation = operationName ?? null;
          type = document?.operation ?? type;
          span?.updateName(`${type} ${operationName ?? '(anonymous)'}`);
          span?.setAttributes({ 'graphql.operation.name': operationName ?? '', 'graphql.operation.type': type });
        },
        async willSendResponse({ response }) {
          const errors = response.body.kind === 'single' ? response.body.singleResult.errors : undefined;
          const code = errors?.[0]?.extensions?.code;
          const outcome = errors?.length ? String(code ?? 'ERROR') : OK_OUTCOME;
          const seconds = (performance.now() - started) / 1000;
          const label = metrics.operationLabel(operation);
          metrics.operations.observe({ operation: label, type, outcome }, seconds);
          span?.setAttribute('graphql.outcome', outcome);
          if (SERVER_FAILURES.has(outcome)) span?.setStatus({ code: SpanStatusCode.ERROR, message: errors?.[0]?.message });
          const level = operation !== null && POLLED_OPERATIONS.has(operation) && outcome === OK_OUTCOME ? 'debug' : 'info';
          log[level]({ operation: label, type, outcome, durationMs: Math.round(seconds * 10_000) / 10, userId: contextValue.viewer?.id }, 'graphql operation');
        },
      };
    },
  };
}
