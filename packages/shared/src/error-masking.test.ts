/** Masking of server failures in the subgraphs' formatError: what the client reads, and what is logged. */
import { describe, expect, it } from '@jest/globals';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { INTERNAL_ERROR_MESSAGE, maskInternalErrors } from './error-masking';
import { badInput, contractError, ErrorCode } from './errors';

/** A resolver's error as graphql-js hands it on: located at a path, wrapping what was thrown. */
function located(thrown: Error): GraphQLError {
  return new GraphQLError(thrown.message, { path: ['characters'], originalError: thrown, extensions: thrown instanceof GraphQLError ? thrown.extensions : {} });
}

/** What Apollo Server passes formatError first: the error's JSON shape, code defaulted to INTERNAL_SERVER_ERROR. */
function formatted(error: GraphQLError): GraphQLFormattedError {
  return { message: error.message, path: error.path, extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR, stacktrace: ['at the database'], ...error.extensions } };
}

describe('maskInternalErrors', () => {
  const logged: unknown[] = [];
  const mask = maskInternalErrors({ error: (...args: unknown[]) => void logged.push(args) } as never);

  it('answers a database error with the code and a generic message, and logs the original', () => {
    const databaseError = Object.assign(new Error('date/time field value out of range: "0000-01-01T00:00:00.000Z"'), { code: '22008' });
    const error = located(databaseError);
    const answer = mask(formatted(error), error);
    expect(answer).toEqual({ message: INTERNAL_ERROR_MESSAGE, path: ['characters'], extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    expect(JSON.stringify(answer)).not.toContain('out of range');
    expect(logged.at(-1)).toEqual([{ err: databaseError, path: ['characters'] }, expect.any(String)]);
  });

  it('masks an error that comes without a code (context creation, a bug) the same way', () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'id')");
    const error = new GraphQLError(`Context creation failed: ${bug.message}`, { originalError: bug });
    const answer = mask({ message: error.message }, error);
    expect(answer).toEqual({ message: INTERNAL_ERROR_MESSAGE, extensions: { code: 'INTERNAL_SERVER_ERROR' } });
  });

  it('leaves contract errors untouched, and INTERNAL_SERVER_ERROR raised on purpose with a message for clients', () => {
    for (const thrown of [badInput('after', 'is not a valid cursor'), contractError(ErrorCode.NOT_FOUND, 'Character not found.')]) {
      const error = located(thrown);
      expect(mask(formatted(error), error)).toEqual(formatted(error));
    }
    const unavailable = located(contractError(ErrorCode.INTERNAL_SERVER_ERROR, 'Chat is temporarily unavailable; please try again in a moment.', { retryable: true }));
    expect(mask(formatted(unavailable), unavailable)).toEqual(formatted(unavailable));
    // GraphQL's own request errors (here a validation error, no originalError) keep their code and text.
    const validation = new GraphQLError('Cannot query field "nope" on type "Query".', { extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } });
    expect(mask(formatted(validation), validation)).toEqual(formatted(validation));
  });
});
