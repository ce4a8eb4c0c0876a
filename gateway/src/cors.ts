/**
 * The gateway's CORS policy: the origins listed in CORS_ORIGINS (exact match) get
 * `access-control-allow-origin` and their preflights answered; any other origin gets no CORS headers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Request headers a browser may send cross-origin (Apollo's CSRF prevention asks for one of the last two). */
export const CORS_ALLOWED_HEADERS = 'authorization, content-type, apollo-require-preflight, x-apollo-operation-name, x-graphql-event-stream-token, last-event-id';
/** Methods a browser may use cross-origin. */
export const CORS_ALLOWED_METHODS = 'GET, POST, PUT, DELETE, OPTIONS';
/** How long a browser may cache a preflight answer (s). */
export const CORS_MAX_AGE_SECONDS = 600;

/**
 * CORS for the listed origins only (exact match): adds `access-control-allow-origin` to their
 * requests and answers their preflight `OPTIONS` with 204. Other origins get no CORS headers
 * (a preflight from one is answered 204 without them, which the browser treats as refused).
 * With no origins it does nothing. Returns true when it has answered the request itself.
 */
export function corsHandler(origins: readonly string[]): (req: IncomingMessage, res: ServerResponse) => boolean {
  const allowed = new Set(origins);
  return (req, res) => {
    if (allowed.size === 0) return false;
    const origin = req.headers.origin;
    const listed = typeof origin === 'string' && allowed.has(origin);
    res.setHeader('vary', 'Origin');
    if (listed) res.setHeader('access-control-allow-origin', origin);
    if (req.method !== 'OPTIONS' || !req.headers['access-control-request-method']) return false;
    if (listed) {
      res.setHeader('access-control-allow-methods', CORS_ALLOWED_METHODS);
      res.setHeader('access-control-allow-headers', CORS_ALLOWED_HEADERS);
      res.setHeader('access-control-max-age', String(CORS_MAX_AGE_SECONDS));
    }
    res.writeHead(204, { 'content-length': '0' });
    res.end();
    return true;
  };
}
