/**
 * How the gateway reaches its subgraphs over HTTP.
 *
 * `createSubgraphRequester` replaces what @apollo/gateway's default fetcher does (make-fetch-happen:
 * an npm registry client built for caching and retries, which the gateway configures with
 * neither, and whose agent captures a stack trace per request to tell http from https) with
 * `node:http` over a keep-alive connection pool; `fetcherOver` gives it the Fetcher interface
 * RemoteGraphQLDataSource calls (status, ok, headers, text, json).
 *
 * `shareInflight` wraps a requester so that identical requests (same method, URL, headers and
 * body) made while one is on its way share that one round trip. Only the answer's status,
 * headers and text are shared: every caller gets its own response object and parses its own
 * JSON, so no two requests ever hold the same mutable object. Whether a request may be shared
 * (a query, never a mutation) is the caller's decision: see datasource.ts.
 */
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { RemoteGraphQLDataSource } from '@apollo/gateway';

/** The fetcher type RemoteGraphQLDataSource accepts (@apollo/utils.fetcher's `Fetcher`). */
export type SubgraphFetcher = RemoteGraphQLDataSource['fetcher'];
/** What a fetcher is called with. */
export type SubgraphRequestInit = NonNullable<Parameters<SubgraphFetcher>[1]>;
/** What a fetcher resolves to. */
export type SubgraphFetchResponse = Awaited<ReturnType<SubgraphFetcher>>;

/**
 * Idle connections kept open per subgraph origin. Busy connections are not capped (as with the
 * default fetcher, `maxSockets: Infinity`): a request never waits for a free connection.
 */
export const MAX_IDLE_SOCKETS_PER_ORIGIN = 256;
/**
 * Headers left out of the key that decides whether two in-flight requests are identical: trace
 * context differs on every request, and sharing a round trip only costs the followers their
 * subgraph span. Everything else sent (authorization, x-forwarded-for, ...) must be equal.
 */
export const SHARING_IGNORED_HEADERS: readonly string[] = ['traceparent', 'tracestate'];

/** A subgraph's answer: what `shareInflight` shares between callers (never mutated). */
export interface SubgraphAnswer {
  readonly status: number;
  readonly statusText: string;
  readonly headers: Readonly<IncomingHttpHeaders>;
  readonly body: string;
}

/**
 * A network failure, worded as the default fetcher words it (`request to <url> failed, reason:
 * <why>`), so clients see the same error message as before.
 */
export class SubgraphFetchError extends Error {
  readonly type = 'system';
  readonly code?: string;
  readonly errno?: string | number;

  constructor(
    url: string,
    /** The underlying failure (e.g. Node's ECONNREFUSED error). */
    readonly reason: { message: string; code?: string; errno?: string | number },
  ) {
    super(`request to ${url} failed, reason: ${reason.message}`, { cause: reason });
    this.name = 'FetchError';
    this.code = reason.code;
    this.errno = reason.errno ?? reason.code;
  }
}

/**
 * A response's headers (the Fetcher interface's) over Node's parsed ones (lowercase names),
 * without the validation WHATWG Headers does on every call: RemoteGraphQLDataSource reads one or
 * two of them. Copied into a map of its own on the first write or listing.
 */
export class AnswerHeaders implements Iterable<[string, string]> {
  private copy?: Map<string, string>;

  constructor(private readonly parsed: Readonly<IncomingHttpHeaders>) {}

  private own(): Map<string, string> {
    if (!this.copy) {
      this.copy = new Map();
      for (const name in this.parsed) {
        const value = this.parsed[name];
        if (value !== undefined) this.copy.set(name, Array.isArray(value) ? value.join(', ') : value);
      }
    }
    return this.copy;
  }

  get(name: string): string | null {
    if (this.copy) return this.copy.get(name.toLowerCase()) ?? null;
    const value = this.parsed[name.toLowerCase()];
    return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
  }

  has(name: string): boolean {
    return this.get(name) !== null;
  }

  set(name: string, value: string): void {
    this.own().set(name.toLowerCase(), value);
  }

  append(name: string, value: string): void {
    const known = this.get(name);
    this.set(name, known === null ? value : `${known}, ${value}`);
  }

  delete(name: string): void {
    this.own().delete(name.toLowerCase());
  }

  entries(): IterableIterator<[string, string]> {
    return this.own().entries();
  }

  keys(): IterableIterator<string> {
    return this.own().keys();
  }

  values(): IterableIterator<string> {
    return this.own().values();
  }

  forEach(callback: (value: string, name: string) => void): void {
    this.own().forEach(callback);
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.own().entries();
  }
}

/** A fetch response over a complete answer; each caller gets its own. */
export class SubgraphResponse implements SubgraphFetchResponse {
  readonly redirected = false;
  private used = false;
  private parsedHeaders?: AnswerHeaders;

  constructor(
    readonly url: string,
    private readonly answer: SubgraphAnswer,
  ) {}

  get status(): number {
    return this.answer.status;
  }

  get statusText(): string {
    return this.answer.statusText;
  }

  get ok(): boolean {
    return this.answer.status >= 200 && this.answer.status < 300;
  }

  get bodyUsed(): boolean {
    return this.used;
  }

  /** Built on first use. */
  get headers(): AnswerHeaders {
    this.parsedHeaders ??= new AnswerHeaders(this.answer.headers);
    return this.parsedHeaders;
  }

  private consume(): string {
    if (this.used) throw new TypeError(`Body has already been used (${this.url})`);
    this.used = true;
    return this.answer.body;
  }

  async text(): Promise<string> {
    return this.consume();
  }

  async json(): Promise<unknown> {
    return JSON.parse(this.consume());
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = Buffer.from(this.consume(), 'utf8');
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }

  clone(): SubgraphResponse {
    if (this.used) throw new TypeError(`Cannot clone a used response (${this.url})`);
    return new SubgraphResponse(this.url, this.answer);
  }
}

/** Sends one request and reads the whole answer. */
export type SubgraphRequester = (url: string, init?: SubgraphRequestInit) => Promise<SubgraphAnswer>;

/**
 * A requester over keep-alive connection pools (one for http, one for https). Redirects are not
 * followed (a subgraph URL is configuration; a redirect answers as a non-2xx error). Network
 * failures reject with a `SubgraphFetchError`.
 */
export function createSubgraphRequester(): SubgraphRequester {
  const agents = {
    'http:': new http.Agent({ keepAlive: true, maxFreeSockets: MAX_IDLE_SOCKETS_PER_ORIGIN, scheduling: 'lifo' }),
    'https:': new https.Agent({ keepAlive: true, maxFreeSockets: MAX_IDLE_SOCKETS_PER_ORIGIN, scheduling: 'lifo' }),
  };
  return (url, init = {}) =>
    new Promise<SubgraphAnswer>((resolve, reject) => {
      let target: URL;
      try {
        target = new URL(url);
      } catch (error) {
        return reject(new SubgraphFetchError(url, error as Error));
      }
      const secure = target.protocol === 'https:';
      if (!secure && target.protocol !== 'http:') return reject(new SubgraphFetchError(url, new Error(`unsupported protocol ${target.protocol}`)));
      const body = init.body;
      const headers: Record<string, string | number> = { ...init.headers };
      if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
      const request = (secure ? https : http).request(target, { method: init.method ?? 'GET', headers, agent: agents[target.protocol as 'http:' | 'https:'] }, (response) => {
        response.setEncoding('utf8');
        let text = '';
        response.on('data', (chunk: string) => (text += chunk));
        response.once('end', () =>
          resolve({ status: response.statusCode ?? 0, statusText: response.statusMessage ?? '', headers: response.headers, body: text }),
        );
        response.once('error', (error) => reject(new SubgraphFetchError(url, error)));
      });
      request.once('error', (error) => reject(new SubgraphFetchError(url, error)));
      const signal = init.signal as AbortSignal | undefined;
      if (signal) {
        if (signal.aborted) request.destroy(new Error('The operation was aborted.'));
        else signal.addEventListener('abort', () => request.destroy(new Error('The operation was aborted.')), { once: true });
      }
      request.end(body);
    });
}

/** A Fetcher (for RemoteGraphQLDataSource) over a requester. */
export function fetcherOver(requester: SubgraphRequester): SubgraphFetcher {
  return async (url, init) => new SubgraphResponse(url, await requester(url, init));
}

/**
 * The key under which two requests are the same request: method and URL, then one line per
 * header (less the ignored ones) sorted by name, a blank line, the body. Names and values are
 * JSON strings, so the key reads back one way only whatever they hold.
 */
function sharingKey(url: string, init: SubgraphRequestInit & { body?: string }): string {
  const headers = Object.entries(init.headers ?? {})
    .map(([name, value]) => [name.toLowerCase(), value] as const)
    .filter(([name]) => !SHARING_IGNORED_HEADERS.includes(name))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  let key = `${JSON.stringify(init.method ?? 'GET')} ${JSON.stringify(url)}\n`;
  for (const [name, value] of headers) key += `${JSON.stringify(name)}:${JSON.stringify(value)}\n`;
  return `${key}\n${init.body ?? ''}`;
}

/**
 * Shares each in-flight request with identical requests made before it completes: one round trip,
 * each caller its own copy of the answer. Failures are not shared either: each caller gets its own
 * error object. Requests with an abort signal are never shared (one caller must not abort another),
 * nor are binary bodies (RemoteGraphQLDataSource sends text).
 */
export function shareInflight(requester: SubgraphRequester): SubgraphRequester {
  const inflight = new Map<string, Promise<SubgraphAnswer>>();
  return (url, init = {}) => {
    if (init.signal || (init.body !== undefined && typeof init.body !== 'string')) return requester(url, init);
    const key = sharingKey(url, init as SubgraphRequestInit & { body?: string });
    const pending = inflight.get(key);
    if (pending) {
      return pending.catch((error: unknown) => {
        throw new SubgraphFetchError(url, error instanceof SubgraphFetchError ? error.reason : { message: String(error) });
      });
    }
    const request = requester(url, init).finally(() => inflight.delete(key));
    inflight.set(key, request);
    return request;
  };
}
