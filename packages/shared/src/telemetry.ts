/** A service's instruments, made once when it starts and passed down: its logger, metrics and tracer. */
import type { Config } from './config';
import { createLogger, type Logger } from './log';
import { ServiceMetrics } from './metrics';
import { tracerFor, type Tracer } from './tracing';

/** What a service observes itself with. */
export interface ServiceTelemetry {
  service: string;
  log: Logger;
  metrics: ServiceMetrics;
  tracer: Tracer;
}

/** The logger, metrics registry and tracer of one service. */
export function createTelemetry(config: Pick<Config, 'logLevel'>, service: string): ServiceTelemetry {
  return { service, log: createLogger(config, service), metrics: new ServiceMetrics(service), tracer: tracerFor(service) };
}
