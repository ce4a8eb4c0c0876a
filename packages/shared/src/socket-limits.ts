/**
 * The graphql-ws rules the gateway and the subgraphs hold their sockets to alike: a quota of open
 * subscriptions per socket, and a socket that lives no longer than the access token it opened with.
 */
import type { GraphQLError } from 'graphql';
import { CloseCode } from 'graphql-ws';
import { contractError, ErrorCode } from './errors';

/** How long a client refused for too many subscriptions should wait before trying again (s). */
export const SUBSCRIPTION_QUOTA_RETRY_AFTER_SECONDS = 1;
/** The close reason of a socket whose access token expired (code 4403). */
export const TOKEN_EXPIRED_REASON = 'Forbidden: the access token expired';

/** The refusal (RATE_LIMITED) of one more subscription on a socket that holds `max` already. */
export function subscriptionQuotaRefusal(max: number): GraphQLError {
  return contractError(ErrorCode.RATE_LIMITED, `At most ${max} subscriptions may be open on one connection.`, {
    retryAfterSeconds: SUBSCRIPTION_QUOTA_RETRY_AFTER_SECONDS,
  });
}

/** Closes `socket` with 4403 when its token expires at `expiresAt` (ms since the epoch); clear the timer when it closes first. */
export function closeAtExpiry(socket: { close(code: number, reason: string): void }, expiresAt: number): NodeJS.Timeout {
  const timer = setTimeout(() => socket.close(CloseCode.Forbidden, TOKEN_EXPIRED_REASON), Math.max(0, expiresAt - Date.now()));
  timer.unref();
  return timer;
}
