/** Apollo Server's `formatError` for the gateway: its own request errors get the contract's codes. */
import type { GraphQLFormattedError } from 'graphql';
import { ErrorCode } from '@chat/shared/errors';

/** Apollo Server's message when an automatic persisted query's hash does not match its text. */
export const PERSISTED_QUERY_HASH_MISMATCH = 'provided sha does not match query';

/** Gives Apollo Server's own request errors the contract's code (e.g. a persisted-query hash mismatch). */
export function contractCodes(formatted: GraphQLFormattedError): GraphQLFormattedError {
  if (formatted.message === PERSISTED_QUERY_HASH_MISMATCH) {
    return { ...formatted, extensions: { ...formatted.extensions, code: ErrorCode.BAD_USER_INPUT } };
  }
  return formatted;
}
