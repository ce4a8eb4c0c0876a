import { trace } from '@opentelemetry/api';
import { pino, type Logger } from 'pino';
import type { Config } from './config';

export type { Logger };

/** Fields never written to a log, wherever they appear (a second level covers `{ input: { password } }` and the like). */
export const REDACTED_FIELDS = [
  'password',
  'token',
  'accessToken',
  'refreshToken',
  'authorization',
  'content',
  'variables',
  'apiKey',
  '*.password',
  '*.token',
  '*.accessToken',
  '*.refreshToken',
  '*.authorization',
  '*.content',
  '*.apiKey',
];

/** A JSON-lines logger for one service: each line carries the active trace and span ids; secrets and message text are redacted. */
export function createLogger(config: Pick<Config, 'logLevel'>, service: string): Logger {
  return pino({
    name: service,
    level: config.logLevel,
    redact: REDACTED_FIELDS,
    mixin() {
      const span = trace.getActiveSpan()?.spanContext();
      return span && trace.isSpanContextValid(span) ? { traceId: span.traceId, spanId: span.spanId } : {};
    },
  });
}
