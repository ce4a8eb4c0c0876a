/** How an upstream socket's end reaches the client (upstream.ts): a subgraph's token expiry is the user's, anything else a retryable fault. */
import { describe, expect, it } from '@jest/globals';
import { CloseCode } from 'graphql-ws';
import { ErrorCode } from '@chat/shared/errors';
import { TOKEN_EXPIRED_REASON } from '@chat/shared/socket-limits';
import { toUpstreamErrors } from './upstream';

describe('toUpstreamErrors', () => {
  it('turns a subgraph closing with 4403 because the access token expired into UNAUTHENTICATED', () => {
    const [error] = toUpstreamErrors('messages', { code: CloseCode.Forbidden, reason: TOKEN_EXPIRED_REASON });
    expect(error.message).toBe(TOKEN_EXPIRED_REASON);
    expect(error.extensions).toEqual({ code: ErrorCode.UNAUTHENTICATED, serviceName: 'messages' });
  });

  it('keeps any other close, a 4403 for another reason too, a retryable INTERNAL_SERVER_ERROR without its detail', () => {
    for (const close of [{ code: CloseCode.Forbidden, reason: 'Forbidden' }, { code: 1011, reason: 'boom at 10.0.0.7' }]) {
      const [error] = toUpstreamErrors('messages', close);
      expect(error.extensions).toEqual(expect.objectContaining({ code: ErrorCode.INTERNAL_SERVER_ERROR, retryable: true, closeCode: close.code }));
      expect(error.message).not.toContain(close.reason);
    }
  });

  it("passes the subgraph's own GraphQL errors on with its service's name", () => {
    const [error] = toUpstreamErrors('messages', [{ message: 'Not found', extensions: { code: 'NOT_FOUND' } }]);
    expect(error.message).toBe('Not found');
    expect(error.extensions).toEqual({ code: 'NOT_FOUND', serviceName: 'messages' });
  });
});
