/**
 * Apollo's multipart HTTP subscriptions: a `POST` to the GraphQL path whose `Accept` asks for
 * `multipart/mixed;subscriptionSpec="1.0"` is answered with one `multipart/mixed` part per event,
 * `{"payload": <result>}`, a `{}` heartbeat part every few seconds, and a failure of the stream
 * itself (upstream gone, token expired) as a last `{"payload": null, "errors": [...]}` part.
 * Queries and mutations so requested are answered as plain JSON. Authentication is the
 * `Authorization` header; each response is one connection of the runner.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ExecutionArgs, ExecutionResult, GraphQLFormattedError } from 'graphql';
import type { FormattedExecutionResult } from 'graphql-ws';
import { ErrorCode } from '@chat/shared/errors';
import type { ConnectionState } from '../connection';
import type { OperationRunner } from '../runner';
import { BodyTooLarge, readBody } from '@chat/shared/http';
import { refusalResponse, sendJsonError, streamEndedError } from './http';

/** The boundary between parts (Apollo's clients expect `graphql`). */
export const MULTIPART_BOUNDARY = 'graphql';
/** The response's content type. */
export const MULTIPART_CONTENT_TYPE = `multipart/mixed;boundary="${MULTIPART_BOUNDARY}";subscriptionSpec="1.0"`;
/** How often a `{}` part keeps an idle stream alive (ms); Apollo's router sends one every 5 s. */
export const MULTIPART_HEARTBEAT_MS = 5_000;
/** Largest operation body accepted. */
export const MULTIPART_MAX_BODY_BYTES = 1024 * 1024;
/** The operation id of a multipart request's one operation (for the connection's accounting). */
const OPERATION_ID = '1';

/** Whether an `Accept` header asks for multipart subscriptions (`subscriptionSpec=1.0`, quoted or not). */
export function acceptsMultipartSubscription(accept: string | undefined): boolean {
  return accept !== undefined && /multipart\/mixed[^,]*;\s*subscriptionSpec\s*=\s*"?1\.0"?/i.test(accept);
}

/** Options of the multipart transport. */
export interface MultipartTransportOptions {
  /** The GraphQL path. */
  readonly path: string;
  /** Heartbeat interval (ms). */
  readonly heartbeatMs?: number;
}

/** The multipart transport: `handle` takes the POSTs that ask for it. */
export interface MultipartTransport {
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  close(): Promise<void>;
}

/** Creates the multipart transport over `runner`. */
export function createMultipartTransport(runner: OperationRunner, options: MultipartTransportOptions): MultipartTransport {
  const { connections } = runner;
  const heartbeatMs = options.heartbeatMs ?? MULTIPART_HEARTBEAT_MS;
  const open = new Map<ServerResponse, (reason: string) => void>();

  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let payload: { query?: unknown; variables?: unknown; operationName?: unknown; extensions?: unknown };
    try {
      payload = JSON.parse(await readBody(req, MULTIPART_MAX_BODY_BYTES));
    } catch (error) {
      if (error instanceof BodyTooLarge) return sendJsonError(res, 413, 'The request body is too large.', 'BAD_REQUEST');
      return sendJsonError(res, 400, 'The body is not valid JSON.', 'BAD_REQUEST');
    }
    if (typeof payload?.query !== 'string') return sendJsonError(res, 400, 'The body must carry a "query" string.', 'BAD_REQUEST');

    // Ends the stream from outside (token expired, session revoked, shutdown), once it is running.
    let endWith: ((reason: string) => void) | undefined;
    const accepted = await connections.accept(res, { authorization: req.headers.authorization }, {
      transport: 'multipart',
      request: req,
      isOpen: () => !res.destroyed,
      close: (_code, reason) => endWith?.(reason),
    });
    if (typeof accepted === 'string') return refusalResponse(res, accepted);
    const connection = accepted;
    res.once('close', () => void connections.close(res));

    const prepared = runner.prepare(connection, OPERATION_ID, {
      query: payload.query,
      variables: (payload.variables ?? null) as Record<string, unknown> | null,
      operationName: typeof payload.operationName === 'string' ? payload.operationName : null,
    });
    if (Array.isArray(prepared)) return sendJson(res, 200, runner.outgoing({ errors: prepared }));
    const args = prepared as ExecutionArgs;
    const result = await runner.stream(args);
    if (!(Symbol.asyncIterator in result)) {
      runner.finished(connection, OPERATION_ID);
      return sendJson(res, 200, runner.outgoing(result as ExecutionResult));
    }
    await streamParts(res, connection, result, (end) => {
      endWith = end;
      open.set(res, end);
    });
    open.delete(res);
  };

  /** Writes the stream's results as parts, with heartbeats, until it ends or the client leaves. */
  const streamParts = async (
    res: ServerResponse,
    connection: ConnectionState,
    results: AsyncGenerator<ExecutionResult | FormattedExecutionResult, undefined, unknown>,
    onEndable: (end: (reason: string) => void) => void,
  ): Promise<void> => {
    res.writeHead(200, { 'content-type': MULTIPART_CONTENT_TYPE, 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    // Each part is followed by the boundary at once, so a client reading up to the next boundary gets it now.
    res.write(`\r\n--${MULTIPART_BOUNDARY}`);
    const part = (body: unknown) => {
      if (!res.writableEnded) res.write(`\r\ncontent-type: application/json; charset=utf-8\r\n\r\n${JSON.stringify(body)}\r\n--${MULTIPART_BOUNDARY}`);
    };
    const finish = () => {
      clearInterval(heartbeat);
      if (!res.writableEnded) res.end('--\r\n');
    };
    part({});
    const heartbeat = setInterval(() => part({}), heartbeatMs);
    const stop = () => {
      clearInterval(heartbeat);
      void results.return(undefined);
    };
    res.once('close', stop);
    onEndable((reason) => {
      part({ payload: null, errors: [streamEndedError(reason)] });
      finish();
      stop();
    });
    try {
      for await (const result of results) {
        if (res.writableEnded) break;
        // A result without data is the stream's own failure: a transport-level error, the last part.
        if (!('data' in result)) part({ payload: null, errors: result.errors as GraphQLFormattedError[] });
        else part({ payload: runner.outgoing(result as ExecutionResult) });
      }
    } finally {
      res.off('close', stop);
      runner.finished(connection, OPERATION_ID);
      finish();
    }
  };

  return {
    handle(req, res) {
      if (req.method !== 'POST' || !acceptsMultipartSubscription(req.headers.accept)) return false;
      if (new URL(req.url ?? '/', 'http://localhost').pathname !== options.path) return false;
      serve(req, res).catch(() => {
        if (!res.headersSent) sendJsonError(res, 500, 'Internal server error.', ErrorCode.INTERNAL_SERVER_ERROR);
        else res.destroy();
      });
      return true;
    },
    async close() {
      for (const end of [...open.values()]) end('The server is shutting down.');
      open.clear();
    },
  };
}

/** Sends a JSON body. */
function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
