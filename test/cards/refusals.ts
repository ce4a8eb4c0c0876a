/** Assertions about refused input, for the card, lorebook and image unit tests. */
import { expect } from '@jest/globals';
import { GraphQLError } from 'graphql';

/** The BAD_USER_INPUT refusal `run` throws (on `field`, when given); fails the test when it throws none. */
export function refusal(run: () => unknown, field?: string): GraphQLError {
  try {
    run();
  } catch (error) {
    return checked(error, field);
  }
  throw new Error('not refused');
}

/** Like `refusal`, for work that refuses asynchronously. */
export async function refusalOf(run: () => Promise<unknown>, field?: string): Promise<GraphQLError> {
  try {
    await run();
  } catch (error) {
    return checked(error, field);
  }
  throw new Error('not refused');
}

function checked(error: unknown, field: string | undefined): GraphQLError {
  expect(error).toBeInstanceOf(GraphQLError);
  expect((error as GraphQLError).extensions.code).toBe('BAD_USER_INPUT');
  if (field !== undefined) expect((error as GraphQLError).extensions.field).toBe(field);
  return error as GraphQLError;
}
