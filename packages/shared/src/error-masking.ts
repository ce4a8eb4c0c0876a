/**
 * What a client may read of a server failure: the contract's INTERNAL_SERVER_ERROR and a generic
 * message. The original (a database error naming a column or a value, a bug's TypeError, a
 * hostname) goes to the log only.
 */
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { ErrorCode } from './errors';
import type { Logger } from './log';

/** The message every masked failure answers with. */
export const INTERNAL_ERROR_MESSAGE = 'Internal server error.';

/** The value that was thrown first, beneath the GraphQL errors that wrap it (resolver paths, context creation). */
function thrownValue(error: unknown): unknown {
  let cause = error;
  while (cause instanceof GraphQLError && cause.originalError) cause = cause.originalError;
  return cause;
}

/**
 * Whether a formatted error must be masked: its code is INTERNAL_SERVER_ERROR (or none, which
 * Apollo reports as that) and it was not raised on purpose as a GraphQL error by our code (such
 * as `contractError(INTERNAL_SERVER_ERROR, 'Chat is temporarily unavailable…', { retryable })`,
 * whose message is written for clients).
 */
export function mustMask(formatted: GraphQLFormattedError, error: unknown): boolean {
  const code = formatted.extensions?.code;
  if (code !== undefined && code !== ErrorCode.INTERNAL_SERVER_ERROR) return false;
  return !(thrownValue(error) instanceof GraphQLError);
}

/**
 * Apollo Server's `formatError`: errors with a contract code (and GraphQL's own request errors)
 * pass untouched; any other failure is logged with its original and answered with
 * INTERNAL_ERROR_MESSAGE and the code only (no stack trace, which would repeat the original).
 */
export function maskInternalErrors(log: Pick<Logger, 'error'>) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    if (!mustMask(formatted, error)) return formatted;
    log.error({ err: thrownValue(error), path: formatted.path }, 'internal error (masked for the client)');
    return { message: INTERNAL_ERROR_MESSAGE, locations: formatted.locations, path: formatted.path, extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR } };
  };
}
