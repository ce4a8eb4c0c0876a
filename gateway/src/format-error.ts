/**
 * How the gateway's errors reach clients: its own request errors get the contract's codes, and
 * whatever of its own is still INTERNAL_SERVER_ERROR (a subgraph that cannot be reached, with its
 * address and the reason; a bug) is masked as the subgraphs mask theirs: the code and a generic
 * message, the original logged. A subgraph's own errors pass as it answered them: it masked its
 * failures already, and what it says on purpose (such as "Chat is temporarily unavailable") is for
 * the client. Over HTTP (Apollo's formatError) and graphql-ws (results and events) alike.
 */
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { maskInternalErrors } from '@chat/shared/error-masking';
import { ErrorCode } from '@chat/shared/errors';
import type { Logger } from '@chat/shared/log';

/** Apollo Server's message when an automatic persisted query's hash does not match its text. */
export const PERSISTED_QUERY_HASH_MISMATCH = 'provided sha does not match query';

/** Gives Apollo Server's own request errors the contract's code (e.g. a persisted-query hash mismatch). */
export function contractCodes(formatted: GraphQLFormattedError): GraphQLFormattedError {
  if (formatted.message === PERSISTED_QUERY_HASH_MISMATCH) {
    return { ...formatted, extensions: { ...formatted.extensions, code: ErrorCode.BAD_USER_INPUT } };
  }
  return formatted;
}

/** Formats one error of a gateway answer: `error` is what was raised, `formatted` what would be sent. */
export type GatewayErrorFormatter = (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;

/**
 * Whether an error is one a subgraph answered with: @apollo/gateway passes each on as a GraphQL
 * error whose original is the subgraph's error as it came in the response (JSON, not an Error).
 */
export function answeredBySubgraph(error: unknown): boolean {
  const original = error instanceof GraphQLError ? error.originalError : undefined;
  return typeof original === 'object' && original !== null && !(original instanceof Error);
}

/**
 * Whether an error is a subgraph fetch that failed over HTTP (@apollo/gateway puts the response,
 * with the subgraph's URL and body, in `extensions.response`): the subgraph refused the gateway's
 * request itself (a 401 for a service token it does not take) or failed outright. Whatever its
 * status, it is the gateway's failure, never the client's.
 */
export function failedSubgraphFetch(formatted: GraphQLFormattedError): boolean {
  return formatted.extensions?.response !== undefined;
}

/** The gateway's formatError: contract codes first, then its own internal failures masked (and logged with `log`). */
export function gatewayErrorFormatter(log: Pick<Logger, 'error'>): GatewayErrorFormatter {
  const maskInternal = maskInternalErrors(log);
  return (formatted, error) => {
    if (answeredBySubgraph(error)) return contractCodes(formatted);
    if (failedSubgraphFetch(formatted)) {
      const failure = new Error(`a subgraph fetch failed: ${formatted.message} ${JSON.stringify(formatted.extensions?.response)}`, { cause: error });
      return maskInternal({ ...formatted, extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR } }, failure);
    }
    return maskInternal(contractCodes(formatted), error);
  };
}
