import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HeaderMap, type ApolloServer, type BaseContext } from '@apollo/server';
import { isSpanContextValid } from '@opentelemetry/api';
import { contextFrom, inSpan, SpanKind, TRACE_ID_HEADER, type Tracer } from './tracing';

/**
 * Largest request body accepted; larger ones get 413 before any parsing. It carries an imported
 * character card (LIMITS.cardFileBytesMax, 10 MiB, is 13.4 MiB in base64) with its operation.
 */
export const MAX_BODY_BYTES = 15 * 1024 * 1024;
/** The path GraphQL is served on, by the gateway and by every subgraph. */
export const GRAPHQL_PATH = '/graphql';

/** A plain HTTP route beside GraphQL (health, JWKS, metrics). */
export type Route = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** A listening HTTP server and how to stop it. */
export interface RunningServer {
  server: Server;
  port: number;
  /** e.g. http://127.0.0.1:4001 */
  origin: string;
  close(): Promise<void>;
}

/** Sends a JSON body with a status. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Thrown by `readBody` for a body over its limit. */
export class BodyTooLarge extends Error {}

/** The request's body as text, at most `limit` bytes (BodyTooLarge beyond). */
export async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new BodyTooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** What a GraphQL handler serves beside GraphQL, and the tracer its requests' spans come from. */
export interface GraphqlHandlerOptions {
  /** Plain routes by exact path (health, metrics, JWKS). */
  routes?: Record<string, Route>;
  /** Each GraphQL request runs in a server span of this tracer, continuing the caller's `traceparent`. */
  tracer?: Tracer;
}

/** Answers GraphQL requests on GRAPHQL_PATH with an Apollo Server, and `routes` by exact path. */
export function graphqlHandler<TContext extends BaseContext>(
  apollo: ApolloServer<TContext>,
  context: (req: IncomingMessage) => Promise<TContext>,
  options: GraphqlHandlerOptions = {},
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const routes = options.routes ?? {};
  const serve = async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const headers = new HeaderMap();
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
    }
    let body: unknown = undefined;
    if (req.method === 'POST') {
      const text = await readBody(req, MAX_BODY_BYTES);
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        return sendJson(res, 400, { errors: [{ message: 'The body is not valid JSON.', extensions: { code: 'BAD_REQUEST' } }] });
      }
    }
    const response = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: req.method ?? 'GET', headers, search: url.search, body },
      context: () => context(req),
    });
    for (const [key, value] of response.headers) res.setHeader(key, value);
    res.statusCode = response.status ?? 200;
    if (response.body.kind === 'complete') {
      res.end(response.body.string);
    } else {
      for await (const chunk of response.body.asyncIterator) res.write(chunk);
      res.end();
    }
  };
  const traced = (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    if (!options.tracer) return serve(req, res, url);
    const attributes = { 'http.request.method': req.method ?? 'GET', 'url.path': url.pathname };
    return inSpan(options.tracer, `${req.method} ${url.pathname}`, { kind: SpanKind.SERVER, attributes, parent: contextFrom(req.headers) }, async (span) => {
      // The client learns its trace id, to find the request in a trace viewer.
      if (isSpanContextValid(span.spanContext())) res.setHeader(TRACE_ID_HEADER, span.spanContext().traceId);
      await serve(req, res, url);
      span.setAttribute('http.response.status_code', res.statusCode);
    });
  };
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    try {
      const route = routes[url.pathname];
      if (route) return await route(req, res);
      if (url.pathname !== GRAPHQL_PATH) return sendJson(res, 404, { error: 'not found' });
      await traced(req, res, url);
    } catch (error) {
      if (error instanceof BodyTooLarge) return sendJson(res, 413, { errors: [{ message: 'The request body is too large.' }] });
      if (!res.headersSent) sendJson(res, 500, { errors: [{ message: 'Internal server error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] });
      else res.destroy();
    }
  };
}

/** Starts listening; port 0 picks a free one. */
export async function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  port: number,
  host = '127.0.0.1',
): Promise<RunningServer> {
  const server = createServer(handler);
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolveListen());
  });
  const actualPort = (server.address() as AddressInfo).port;
  return {
    server,
    port: actualPort,
    origin: `http://${host}:${actualPort}`,
    close: () =>
      new Promise<void>((resolveClose) => {
        server.close(() => resolveClose());
        server.closeAllConnections();
      }),
  };
}
