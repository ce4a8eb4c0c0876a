/** Which address a request to the gateway comes from, for per-address limits downstream. */
import type { IncomingMessage } from 'node:http';
import { clientAddressOf } from '@chat/shared/subgraph';

/** The client address of a request (an HTTP request or a WebSocket upgrade), or undefined. */
export type ClientAddressOf = (request: IncomingMessage) => string | undefined;

/**
 * Behind a trusted proxy (TRUST_PROXY) the client is the first X-Forwarded-For hop; otherwise the
 * peer, and a client's own X-Forwarded-For is ignored.
 */
export function clientAddressResolver(trustProxy: boolean): ClientAddressOf {
  return trustProxy ? clientAddressOf : (request) => request.socket.remoteAddress;
}
