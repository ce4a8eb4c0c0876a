/**
 * Distributed tracing: the OpenTelemetry SDK for a process, and the few helpers every hop uses to
 * carry W3C trace context (HTTP headers, graphql-ws payloads, Redis jobs and events).
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  NoopSpanProcessor,
  ParentBasedSampler,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { Config } from './config';

export { SpanKind, SpanStatusCode, type Span, type Tracer };

/** The response header that tells a client which trace its request started. */
export const TRACE_ID_HEADER = 'x-trace-id';
/** The W3C Trace Context header (https://www.w3.org/TR/trace-context/). */
export const TRACEPARENT = 'traceparent';
/** The OTLP/HTTP path traces are posted to, under OTEL_EXPORTER_OTLP_ENDPOINT. */
export const OTLP_TRACES_PATH = '/v1/traces';

/** A process's tracing, started once by its entry point. */
export interface Tracing {
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry SDK for this process. With `config.tracing.otlpEndpoint` spans are
 * exported over OTLP/HTTP; without it nothing is recorded, but trace ids are still made and
 * propagated, so logs and the trace id header stay useful. `spanProcessors` replaces both (tests).
 */
export function startTracing(config: Pick<Config, 'tracing'>, serviceName: string, spanProcessors?: SpanProcessor[]): Tracing {
  const { otlpEndpoint } = config.tracing;
  const exporting = spanProcessors ?? (otlpEndpoint ? [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${otlpEndpoint.replace(/\/$/, '')}${OTLP_TRACES_PATH}` }))] : undefined);
  const sdk = new NodeSDK({
    serviceName: config.tracing.serviceName ?? serviceName,
    // No auto-instrumentation: every hop is traced by our own code, explicitly (see README Observability).
    instrumentations: [],
    autoDetectResources: false,
    textMapPropagator: new W3CTraceContextPropagator(),
    // The SDK only installs a tracer provider when it has a processor: a no-op one keeps ids without recording.
    spanProcessors: exporting ?? [new NoopSpanProcessor()],
    sampler: exporting ? new ParentBasedSampler({ root: new AlwaysOnSampler() }) : new AlwaysOffSampler(),
  });
  sdk.start();
  return { shutdown: () => sdk.shutdown() };
}

/** The tracer of one of our services (its instrumentation scope names the service). */
export function tracerFor(service: string): Tracer {
  return trace.getTracer(`character-chat/${service}`);
}

/** Headers (or any string map) carrying the given context's trace, for the next hop. */
export function traceHeaders(from: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(from, carrier);
  return carrier;
}

/** The context a hop arrived with (headers, or a payload's trace fields); the root context when none. */
export function contextFrom(carrier: Record<string, unknown> | undefined | null): Context {
  if (!carrier) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, carrier, {
    keys: (c) => Object.keys(c),
    get: (c, key) => {
      const value = c[key];
      return typeof value === 'string' || Array.isArray(value) ? (value as string | string[]) : undefined;
    },
  });
}

/** The trace id of the active span, or undefined when there is none (no SDK, or no trace). */
export function activeTraceId(): string | undefined {
  const span = trace.getActiveSpan()?.spanContext();
  return span && trace.isSpanContextValid(span) ? span.traceId : undefined;
}

/**
 * Runs `work` in a new span (child of `parent`, the active context by default), ending it when
 * `work` settles and marking it failed when `work` throws.
 */
export function inSpan<T>(
  tracer: Tracer,
  name: string,
  options: { kind?: SpanKind; attributes?: Attributes; parent?: Context },
  work: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer.startActiveSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes }, options.parent ?? context.active(), async (span) => {
    try {
      return await work(span);
    } catch (error) {
      failSpan(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Marks a span failed with the error. */
export function failSpan(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}
