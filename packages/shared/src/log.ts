import { pino, type Logger } from 'pino';
import type { Config } from './config';

export type { Logger };

/** A JSON-lines logger for one service; secrets are redacted wherever they appear. */
export function createLogger(config: Pick<Config, 'logLevel'>, service: string): Logger {
  return pino({
    name: service,
    level: config.logLevel,
    redact: ['password', 'token', 'accessToken', 'refreshToken', 'authorization', '*.password', '*.authorization', '*.refreshToken'],
  });
}
