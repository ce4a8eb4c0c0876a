/** What the HTTP transports (SSE, multipart) answer alike: JSON errors and refused connections (bodies: @chat/shared/http's readBody). */
import type { ServerResponse } from 'node:http';
import type { GraphQLError } from 'graphql';
import { ErrorCode, unauthenticated } from '@chat/shared/errors';
import { SUBSCRIPTION_QUOTA_RETRY_AFTER_SECONDS, type Refusal } from '../connection';

/** Sends `{ errors: [{ message, extensions: { code } }] }` with `status`. */
export function sendJsonError(res: ServerResponse, status: number, message: string, code: string, extensions: Record<string, unknown> = {}): void {
  const text = JSON.stringify({ errors: [{ message, extensions: { code, ...extensions } }] });
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The answer to a connection the registry refused: 401 without valid credentials, 429 over the per-user quota. */
export function refusalResponse(res: ServerResponse, refusal: Refusal): void {
  if (refusal === 'closed') return void res.destroy();
  if (refusal === 'too-many-connections') {
    res.setHeader('retry-after', String(SUBSCRIPTION_QUOTA_RETRY_AFTER_SECONDS));
    return sendJsonError(res, 429, 'Too many open connections for this user.', ErrorCode.RATE_LIMITED, { retryAfterSeconds: SUBSCRIPTION_QUOTA_RETRY_AFTER_SECONDS });
  }
  sendJsonError(res, 401, 'Subscriptions need a valid "Authorization: Bearer <accessToken>" header.', ErrorCode.UNAUTHENTICATED);
}

/** The last error of a stream the server ends (its token expired, its session was revoked, the server stops). */
export function streamEndedError(reason: string): ReturnType<GraphQLError['toJSON']> {
  return unauthenticated(reason).toJSON();
}

