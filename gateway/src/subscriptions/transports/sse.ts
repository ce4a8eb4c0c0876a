/**
 * Server-Sent Events with the graphql-sse protocol, both its modes, through the library's own
 * handler (`createHandler` from graphql-sse) fed by the shared runner:
 * - distinct connections: each `text/event-stream` request carries one operation and is one
 *   connection of the runner;
 * - single connection: `PUT` reserves a stream token, the `text/event-stream` GET with that token
 *   is the connection, and operations are POSTed (and stopped with DELETE) beside it.
 *
 * Every request is authenticated by its `Authorization` header; a reservation belongs to the user
 * who made it, and is unknown (404) to anyone else. Each event of a distinct stream carries its
 * cursor as the SSE `id`, and a `Last-Event-ID` request resumes `conversationEvents` after it.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHandler, TOKEN_HEADER_KEY, TOKEN_QUERY_KEY, type OperationArgs, type OperationResult } from 'graphql-sse';
import { contractError, ErrorCode } from '@chat/shared/errors';
import type { ConnectionState, Peer } from '../connection';
import { cursorOf, withResumeCursor } from '../resume';
import type { OperationRunner, RunningOperation } from '../runner';
import { readBody } from '@chat/shared/http';
import { refusalResponse, sendJsonError, streamEndedError } from './http';

/** How long a reserved stream waits for its event stream to connect before the reservation is dropped (ms). */
export const SSE_RESERVATION_TIMEOUT_MS = 30_000;
/** The media type of an event stream (graphql-sse compares `Accept` to exactly this). */
export const EVENT_STREAM_TYPE = 'text/event-stream';
/** The request header of the last event id a reconnecting client has (the SSE standard's). */
export const LAST_EVENT_ID_HEADER = 'last-event-id';
/** Largest operation body accepted on the stream endpoint. */
export const SSE_MAX_BODY_BYTES = 1024 * 1024;

/** What our adapter hands the graphql-sse handler with each request. */
interface StreamContext {
  /** The connection the request's operations run on. */
  readonly connection?: ConnectionState;
  /** The single-connection stream token, or null for a distinct connection. */
  readonly token: string | null;
  /** The cursor a distinct connection resumes after (`Last-Event-ID`). */
  readonly lastEventId?: string;
}

/** What graphql-sse hands callbacks as the operation's context: the runner's prepared operation. */
type StreamOperation = RunningOperation & Record<PropertyKey, unknown>;

/** A reserved single-connection stream (also its connection's key in the registry). */
interface Reservation {
  connection?: ConnectionState;
  /** The user who reserved it. */
  owner?: string;
  /** Its event stream, once connected. */
  response?: ServerResponse;
  /** Drops it if its event stream never connects. */
  timeout?: NodeJS.Timeout;
}

/** Options of the SSE transport. */
export interface SseTransportOptions {
  /** The endpoint's path. */
  readonly path: string;
}

/** The SSE transport: `handle` takes requests on its path. */
export interface SseTransport {
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  close(): Promise<void>;
}

/** Creates the SSE transport over `runner`. */
export function createSseTransport(runner: OperationRunner, options: SseTransportOptions): SseTransport {
  const { connections } = runner;
  const reservations = new Map<string, Reservation>();
  const distinct = new Set<ServerResponse>();

  const handler = createHandler<IncomingMessage, StreamContext, StreamOperation>({
    authenticate: (req) => req.context.token,
    // Prepared operations were validated (with the gateway's limits) by the runner already.
    validate: () => [],
    onSubscribe(req, params) {
      const { connection, lastEventId } = req.context;
      // `data` present (null): graphql-sse takes the answer as a result only then.
      if (!connection) return { data: null, errors: [contractError(ErrorCode.UNAUTHENTICATED, 'Sign in first.')] };
      const id = String(params.extensions?.operationId ?? '');
      const prepared = runner.prepare(connection, id, lastEventId === undefined ? params : withResumeCursor(params, lastEventId));
      if (Array.isArray(prepared)) return { data: null, errors: prepared as never };
      return prepared as OperationArgs<StreamOperation>;
    },
    subscribe: (args) => runner.stream(args) as OperationResult,
    execute: (args) => runner.stream(args) as OperationResult,
    onNext: (_ctx, _req, result) => runner.outgoing(result as never) as never,
    onComplete: (ctx) => {
      if (ctx) runner.finished(ctx.connection, ctx.operationId);
    },
  });

  /** Ends an event stream with a last error for each of its operations (token expired, session revoked). */
  const endStream = (response: ServerResponse | undefined, connection: ConnectionState | undefined, reason: string, single: boolean): void => {
    if (!response?.headersSent || response.writableEnded) return;
    const errors = [streamEndedError(reason)];
    const ids = single ? [...(connection?.subscriptions ?? [])] : [''];
    for (const id of ids) {
      response.write(sseMessage('next', single ? { id, payload: { errors } } : { errors }));
      response.write(sseMessage('complete', single ? { id } : null));
    }
    response.end();
  };

  /** Drops a reservation: its connection, and the library's stream if it never connected. */
  const release = (token: string): void => {
    const reservation = reservations.get(token);
    if (!reservation) return;
    reservations.delete(token);
    clearTimeout(reservation.timeout);
    void connections.close(reservation);
    if (!reservation.response) void disposeUnconnected(token);
  };

  /** graphql-sse keeps a reserved stream until its event stream ends: connect to it here, and end it. */
  const disposeUnconnected = async (token: string): Promise<void> => {
    const [body] = await handler({
      method: 'GET',
      url: `${options.path}?${TOKEN_QUERY_KEY}=${encodeURIComponent(token)}`,
      headers: { get: (key) => (key === 'accept' ? EVENT_STREAM_TYPE : undefined) },
      body: null,
      raw: undefined as unknown as IncomingMessage,
      context: { token },
    });
    if (body && typeof body !== 'string') await body.return(undefined);
  };

  const peerOf = (req: IncomingMessage, res: ServerResponse | (() => ServerResponse | undefined), onClose: (reason: string) => void): Peer => ({
    transport: 'sse',
    request: req,
    isOpen: () => {
      const response = typeof res === 'function' ? res() : res;
      return response === undefined || !response.destroyed;
    },
    close: (_code, reason) => onClose(reason),
  });

  const serve = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const headerToken = req.headers[TOKEN_HEADER_KEY];
    const token = (Array.isArray(headerToken) ? headerToken[0] : headerToken) || url.searchParams.get(TOKEN_QUERY_KEY) || null;
    const params = { authorization: req.headers.authorization };
    const eventStream = req.headers.accept === EVENT_STREAM_TYPE;
    let context: StreamContext;

    if (token === null && req.method === 'PUT') {
      return reserve(req, res, randomUUID(), params);
    } else if (token === null && eventStream) {
      // Distinct connection mode: this request is the connection.
      const accepted = await connections.accept(res, params, peerOf(req, res, (reason) => endStream(res, undefined, reason, false)));
      if (typeof accepted === 'string') return refusalResponse(res, accepted);
      distinct.add(res);
      res.once('close', () => {
        distinct.delete(res);
        void connections.close(res);
      });
      const lastEventId = header(req, LAST_EVENT_ID_HEADER);
      context = { connection: accepted, token: null, ...(lastEventId ? { lastEventId } : {}) };
    } else if (token !== null && req.method === 'PUT') {
      if (reservations.has(token)) context = { token }; // graphql-sse answers 409
      else return reserve(req, res, token, params);
    } else if (token !== null) {
      const reservation = reservations.get(token);
      if (!reservation || !(await sameUser(runner, params, reservation.owner))) return sendJsonError(res, 404, 'Stream not found', 'NOT_FOUND');
      context = { connection: reservation.connection, token };
      if (eventStream && !reservation.response) {
        reservation.response = res;
        clearTimeout(reservation.timeout);
        res.once('close', () => release(token));
      }
    } else {
      context = { token: null };
    }
    await respond(req, res, context);
  };

  /** PUT: reserves `token` for the caller (a connection of theirs from now), then lets graphql-sse register it. */
  const reserve = async (req: IncomingMessage, res: ServerResponse, token: string, params: Record<string, unknown>): Promise<void> => {
    const reservation: Reservation = {};
    const peer = peerOf(req, () => reservation.response, (reason) => {
      endStream(reservation.response, reservation.connection, reason, true);
      release(token);
    });
    const accepted = await connections.accept(reservation, params, peer);
    if (typeof accepted === 'string') return refusalResponse(res, accepted);
    reservation.connection = accepted;
    reservation.owner = accepted.auth.userKey;
    reservation.timeout = setTimeout(() => release(token), SSE_RESERVATION_TIMEOUT_MS).unref();
    reservations.set(token, reservation);
    await respond(req, res, { token, connection: accepted });
  };

  /** Runs graphql-sse's handler for the request and writes its answer (an event stream is written as it comes). */
  const respond = async (req: IncomingMessage, res: ServerResponse, context: StreamContext): Promise<void> => {
    const [body, init] = await handler({
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: { get: (key) => header(req, key) },
      body: () => readBody(req, SSE_MAX_BODY_BYTES),
      raw: req,
      context,
    });
    res.writeHead(init.status, init.statusText, { ...init.headers, ...(body && typeof body !== 'string' ? { 'x-accel-buffering': 'no' } : {}) });
    if (!body || typeof body === 'string') {
      res.end(body ?? undefined);
      return;
    }
    const stop = () => void body.return(undefined);
    res.once('close', stop);
    for await (const message of body) {
      if (res.writableEnded || res.destroyed) break;
      // A distinct stream's events are numbered by their cursor, for Last-Event-ID.
      res.write(context.token === null ? withEventId(message) : message);
    }
    res.off('close', stop);
    if (!res.writableEnded) res.end();
  };

  return {
    handle(req, res) {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname !== options.path) return false;
      serve(req, res, url).catch(() => {
        if (!res.headersSent) sendJsonError(res, 500, 'Internal server error.', ErrorCode.INTERNAL_SERVER_ERROR);
        else res.destroy();
      });
      return true;
    },
    async close() {
      for (const res of distinct) endStream(res, undefined, 'The server is shutting down.', false);
      for (const [token, reservation] of [...reservations]) {
        endStream(reservation.response, reservation.connection, 'The server is shutting down.', true);
        release(token);
      }
    },
  };
}

/** Whether `params` authenticate as `owner`. */
async function sameUser(runner: OperationRunner, params: Record<string, unknown>, owner: string | undefined): Promise<boolean> {
  try {
    return (await runner.authenticate(params)).userKey === owner;
  } catch {
    return false;
  }
}

/** A request header as one string. */
function header(req: IncomingMessage, key: string): string | undefined {
  const value = req.headers[key.toLowerCase()];
  return Array.isArray(value) ? value.join('\n') : value;
}

/** One SSE message as graphql-sse prints it. */
function sseMessage(event: 'next' | 'complete', data: unknown): string {
  return `event: ${event}\ndata:${data ? ` ${JSON.stringify(data)}` : ''}\n\n`;
}

/** A `next` message with its event's cursor as the SSE `id` (other messages as they are). */
function withEventId(message: string): string {
  const prefix = 'event: next\ndata: ';
  if (!message.startsWith(prefix)) return message;
  let cursor: string | undefined;
  try {
    cursor = cursorOf(JSON.parse(message.slice(prefix.length)));
  } catch {
    return message;
  }
  return cursor === undefined || /[\r\n]/.test(cursor) ? message : `id: ${cursor}\n${message}`;
}
