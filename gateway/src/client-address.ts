/** Which address a request to the gateway comes from, for per-address limits downstream. */
import type { IncomingMessage } from 'node:http';
import { lastForwardedHop } from '@chat/shared/identity';

/** The client address of a request (an HTTP request or a WebSocket upgrade), or undefined. */
export type ClientAddressOf = (request: IncomingMessage) => string | undefined;

/**
 * Behind a trusted proxy (TRUST_PROXY) the client is the last X-Forwarded-For hop: the address our
 * proxy saw and wrote (deploy/nginx.conf sets the header to it alone; a proxy that appends instead
 * puts it last too). Every earlier hop is whatever the client sent, so it never chooses the address
 * that is throttled. Without TRUST_PROXY the client is the peer, and X-Forwarded-For is ignored.
 */
export function clientAddressResolver(trustProxy: boolean): ClientAddressOf {
  return trustProxy
    ? (request) => lastForwardedHop(request.headers['x-forwarded-for']) ?? request.socket.remoteAddress
    : (request) => request.socket.remoteAddress;
}
