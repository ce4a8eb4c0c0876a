import { GraphQLError } from 'graphql';

/** The error codes of the public contract (API.md); every error a client sees carries one. */
export const ErrorCode = {
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  RATE_LIMITED: 'RATE_LIMITED',
  INSUFFICIENT_CREDITS: 'INSUFFICIENT_CREDITS',
  CONFLICT: 'CONFLICT',
  LLM_UNAVAILABLE: 'LLM_UNAVAILABLE',
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
  /** A replay cursor older than the events still kept: reload, then subscribe without it. */
  CURSOR_EXPIRED: 'CURSOR_EXPIRED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** A GraphQL error with the contract's `extensions.code` (and any extra extensions). */
export function contractError(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, { extensions: { code, ...extensions } });
}

/** The caller is anonymous or their token is not valid. */
export const unauthenticated = (message = 'You must be signed in.') => contractError(ErrorCode.UNAUTHENTICATED, message);
/** The caller is known but may not do this. */
export const forbidden = (message = 'You may not do this.') => contractError(ErrorCode.FORBIDDEN, message);
/** Missing, or hidden from the caller: the two look the same on purpose. */
export const notFound = (what: string) => contractError(ErrorCode.NOT_FOUND, `${what} not found.`);
/** Bad input, naming the field at fault. */
export const badInput = (field: string, why: string) =>
  contractError(ErrorCode.BAD_USER_INPUT, `${field}: ${why}`, { field });
/** A conflicting state, e.g. an email already registered. */
export const conflict = (message: string) => contractError(ErrorCode.CONFLICT, message);
/**
 * Anything thrown, as a GraphQL error: a GraphQLError as it is, anything else with its message,
 * kept as `originalError`, and the contract's INTERNAL_SERVER_ERROR (it was not the client's doing).
 */
export function asGraphQLError(error: unknown): GraphQLError {
  if (error instanceof GraphQLError) return error;
  return new GraphQLError(error instanceof Error ? error.message : String(error), {
    originalError: error instanceof Error ? error : undefined,
    extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
  });
}
