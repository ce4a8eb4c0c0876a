/** The gateway's error formatter (format-error.ts): its own failures masked, subgraphs' errors as they answered them. */
import { describe, expect, it } from '@jest/globals';
import { GraphQLError } from 'graphql';
import { INTERNAL_ERROR_MESSAGE } from '@chat/shared/error-masking';
import { gatewayErrorFormatter, PERSISTED_QUERY_HASH_MISMATCH } from './format-error';

const logged: Array<{ err: Error }> = [];
const format = gatewayErrorFormatter({ error: (fields: unknown) => void logged.push(fields as { err: Error }) });
/** The message of the failure logged last. */
const lastLogged = () => logged.at(-1)?.err.message;
const formatOf = (error: GraphQLError) => format(error.toJSON(), error);

describe("the gateway's error formatter", () => {
  it('masks a failure of its own, such as an unreachable subgraph, and logs it', () => {
    const refused = Object.assign(new Error('request to http://10.0.0.4:4002/graphql failed, reason: connect ECONNREFUSED 10.0.0.4:4002'), { code: 'ECONNREFUSED' });
    const error = new GraphQLError(refused.message, { originalError: refused });
    expect(formatOf(error)).toEqual({ message: INTERNAL_ERROR_MESSAGE, extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    expect(lastLogged()).toContain('ECONNREFUSED');
  });

  it('masks a subgraph that refused the gateway over HTTP, whatever the status: its URL and body are for the log', () => {
    const response = { url: 'http://10.0.0.4:4001/graphql', status: 401, statusText: 'Unauthorized', body: { errors: [{ message: 'Requests must come through the gateway.' }] } };
    const error = new GraphQLError('401: Unauthorized', { extensions: { response, code: 'UNAUTHENTICATED' } });
    expect(formatOf(error)).toEqual({ message: INTERNAL_ERROR_MESSAGE, extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    expect(lastLogged()).toContain('10.0.0.4:4001');
  });

  it("passes a subgraph's own errors as it answered them: deliberate messages stay, its codes stay", () => {
    // As @apollo/gateway passes a subgraph's error on: the original is the error from the subgraph's JSON response.
    const answered = { message: 'Chat is temporarily unavailable; please try again in a moment.', extensions: { code: 'INTERNAL_SERVER_ERROR', retryable: true } };
    const error = new GraphQLError(answered.message, { originalError: answered as never, extensions: { ...answered.extensions, serviceName: 'messages' } });
    expect(formatOf(error)).toMatchObject({ message: answered.message, extensions: { code: 'INTERNAL_SERVER_ERROR', retryable: true } });
    const notFound = new GraphQLError('Conversation not found.', { originalError: { message: 'Conversation not found.' } as never, extensions: { code: 'NOT_FOUND' } });
    expect(formatOf(notFound)).toMatchObject({ message: 'Conversation not found.', extensions: { code: 'NOT_FOUND' } });
  });

  it("gives Apollo's own request errors the contract's codes", () => {
    expect(formatOf(new GraphQLError(PERSISTED_QUERY_HASH_MISMATCH)).extensions?.code).toBe('BAD_USER_INPUT');
  });
});
