/**
 * Fake LLM servers for tests: one local HTTP server that speaks the streaming wire formats of
 * OpenAI chat completions (`POST /v1/chat/completions`) and Anthropic messages (`POST /v1/messages`),
 * and both APIs' models endpoint (`GET /v1/models`, Anthropic's when the request carries
 * `anthropic-version`), closely enough for the official SDK clients to run against it.
 * Behaviour is scriptable per test.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** What the server does for a request. */
export interface FakeLlmBehaviour {
  /** Reply pieces; each is sent as one content event. */
  tokens: string[];
  /** Delay between two content events. */
  tokenDelayMs: number;
  /** Delay (after the headers and the opening events) before the first content event. */
  firstTokenDelayMs: number;
  /** Delay before the response headers are sent. */
  headersDelayMs: number;
  /** Answer this many requests with `failStatus` before succeeding (counts down). */
  failTimes: number;
  /** HTTP status of the failures. */
  failStatus: number;
  /** Stop sending after this many content events and keep the connection open forever (null: never hang). */
  hangAfterTokens: number | null;
  /** Finish reason to report (null: `stop` for OpenAI, `end_turn` for Anthropic). */
  finishReason: string | null;
  /** Prompt tokens reported in usage. */
  promptTokens: number;
  /**
   * Optional: the text actually sent for token `index`, asked for once its delay has passed and written as soon as it
   * resolves (benchmarks stamp send times into tokens, or hold a token back until every stream has started).
   */
  renderToken?: (token: string, index: number) => string | Promise<string>;
  /** The model ids `GET /v1/models` lists. */
  models: string[];
  /** Answer `GET /v1/models` with this HTTP status instead (null: list the models). */
  modelsFailStatus: number | null;
  /** The API key every request must carry (Authorization: Bearer, or x-api-key); null: any. A wrong one gets 401. */
  apiKey: string | null;
}

/** A request the server received. */
export interface RecordedRequest {
  api: 'openai' | 'anthropic' | 'unknown';
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  /** Parsed JSON body (undefined when it was not JSON). */
  body: any;
  /** The response was sent completely. */
  finished: boolean;
  /** The client closed the connection before the response was complete. */
  clientDisconnected: boolean;
}

/** A running fake server. */
export interface FakeLlmServer {
  /** Origin, e.g. `http://127.0.0.1:PORT` (Anthropic SDK `baseURL`). */
  url: string;
  /** `url` + `/v1` (OpenAI SDK `baseURL`). */
  baseUrl: string;
  /** Every generation request received, in order. */
  requests: RecordedRequest[];
  /** Every `GET /v1/models` received, in order (kept apart: the catalogue reads it in the background). */
  modelListings: RecordedRequest[];
  /** Changes the default behaviour (merged into the current one). */
  setBehaviour(behaviour: Partial<FakeLlmBehaviour>): void;
  /** Queues one-off behaviours: the next requests use them in order (each merged over the default), then the default again. */
  script(...steps: Array<Partial<FakeLlmBehaviour>>): void;
  /** Drops the queued behaviours no request has used yet. */
  unscript(): void;
  /** Stops the server and destroys open connections (including hanging streams). */
  close(): Promise<void>;
}

/** Behaviour when a test configures nothing. */
export const DEFAULT_FAKE_BEHAVIOUR: FakeLlmBehaviour = {
  tokens: ['Hello', ' from', ' the', ' fake', ' model', '.'],
  tokenDelayMs: 0,
  firstTokenDelayMs: 0,
  headersDelayMs: 0,
  failTimes: 0,
  failStatus: 500,
  hangAfterTokens: null,
  finishReason: null,
  promptTokens: 42,
  models: ['fake-small', 'fake-large'],
  modelsFailStatus: null,
  apiKey: null,
};

/** Fixed `created` timestamp so chunks are reproducible. */
const CREATED = 1_700_000_000;

/** Starts a fake server on 127.0.0.1 with a random port. */
export async function startFakeLlm(initial: Partial<FakeLlmBehaviour> = {}): Promise<FakeLlmServer> {
  let defaults: FakeLlmBehaviour = { ...DEFAULT_FAKE_BEHAVIOUR, ...initial };
  const queue: Array<Partial<FakeLlmBehaviour>> = [];
  const requests: RecordedRequest[] = [];
  const modelListings: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  let counter = 0;

  /** Behaviour for the next request; `failTimes` counts down on the object it came from. */
  const nextBehaviour = (): { behaviour: FakeLlmBehaviour; fail: boolean } => {
    const step = queue.shift();
    const behaviour = { ...defaults, ...step };
    if (step) return { behaviour, fail: behaviour.failTimes > 0 };
    const fail = defaults.failTimes > 0;
    if (fail) defaults = { ...defaults, failTimes: defaults.failTimes - 1 };
    return { behaviour, fail };
  };

  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: String(error) } }));
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'GET' && path === '/v1/models') return listModels(req, res, path);
    const api = path === '/v1/chat/completions' ? 'openai' : path === '/v1/messages' ? 'anthropic' : 'unknown';
    let body: any;
    try {
      body = JSON.parse(raw);
    } catch {
      body = undefined;
    }
    const record: RecordedRequest = {
      api,
      method: req.method ?? '',
      path,
      headers: req.headers,
      body,
      finished: false,
      clientDisconnected: false,
    };
    requests.push(record);

    const gone = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) record.clientDisconnected = true;
      gone.abort();
    });
    res.on('finish', () => {
      record.finished = true;
    });

    if (api === 'unknown' || req.method !== 'POST') {
      return sendJson(res, 404, { error: { message: `fake LLM: no route for ${req.method} ${path}` } });
    }
    if (!keyAccepted(req, defaults.apiKey)) return sendError(res, api, 401, 'Incorrect API key provided.');
    if (!body?.stream) {
      return sendError(res, api, 400, 'fake LLM only implements streaming requests (stream: true)');
    }
    const { behaviour, fail } = nextBehaviour();
    counter += 1;
    if (!(await pause(behaviour.headersDelayMs, gone.signal))) return;
    if (fail) return sendError(res, api, behaviour.failStatus, `scripted failure (HTTP ${behaviour.failStatus})`);

    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      [api === 'openai' ? 'x-request-id' : 'request-id']: `req_fake_${counter}`,
    });
    const stream = api === 'openai' ? openAiStream(body, behaviour, counter) : anthropicStream(body, behaviour, counter);
    await play(res, stream, behaviour, gone.signal);
  }

  /** The models endpoint in the format of the API that asks: Anthropic's (it sends anthropic-version) or OpenAI's. */
  function listModels(req: IncomingMessage, res: ServerResponse, path: string): void {
    const api = req.headers['anthropic-version'] ? 'anthropic' : 'openai';
    modelListings.push({ api, method: 'GET', path, headers: req.headers, body: undefined, finished: true, clientDisconnected: false });
    if (!keyAccepted(req, defaults.apiKey)) return sendError(res, api, 401, 'Incorrect API key provided.');
    if (defaults.modelsFailStatus !== null) return sendError(res, api, defaults.modelsFailStatus, `scripted models failure (HTTP ${defaults.modelsFailStatus})`);
    const { models } = defaults;
    if (api === 'anthropic') {
      const data = models.map((id) => ({ type: 'model', id, display_name: id, created_at: new Date(CREATED * 1000).toISOString() }));
      return sendJson(res, 200, { data, has_more: false, first_id: models[0] ?? null, last_id: models.at(-1) ?? null });
    }
    sendJson(res, 200, { object: 'list', data: models.map((id) => ({ id, object: 'model', created: CREATED, owned_by: 'fake' })) });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    baseUrl: `${url}/v1`,
    requests,
    modelListings,
    setBehaviour(behaviour) {
      defaults = { ...defaults, ...behaviour };
    },
    script(...steps) {
      queue.push(...steps);
    },
    unscript() {
      queue.length = 0;
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      server.closeAllConnections();
      await closed;
    },
  };
}

/** Alias matching the test-support convention `start()`. */
export { startFakeLlm as start };

/**
 * Holds back every stream's pieces from the `from`-th on (0: from the first) until the returned
 * release is called: a test decides when replies go on, not the machine's speed (a late subscriber
 * joins mid-reply; no reply ends while a batch of sends is answered).
 */
export function pauseTokens(llm: FakeLlmServer, from = 0): () => void {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  llm.setBehaviour({ renderToken: async (token, index) => (index >= from ? (await released, token) : token) });
  return () => {
    release();
    llm.setBehaviour({ renderToken: undefined });
  };
}

/** The events of one streamed reply: opening events, one event per token, closing events. */
interface WireStream {
  opening: string[];
  token(text: string): string;
  closing: string[];
}

/** Sends a stream with the scripted delays; stops early when the client goes away. */
async function play(res: ServerResponse, stream: WireStream, behaviour: FakeLlmBehaviour, gone: AbortSignal): Promise<void> {
  for (const event of stream.opening) res.write(event);
  for (const [index, token] of behaviour.tokens.entries()) {
    if (behaviour.hangAfterTokens !== null && index >= behaviour.hangAfterTokens) return hang(gone);
    const delay = index === 0 ? behaviour.firstTokenDelayMs : behaviour.tokenDelayMs;
    if (!(await pause(delay, gone))) return;
    const text = behaviour.renderToken ? await behaviour.renderToken(token, index) : token;
    if (gone.aborted) return;
    res.write(stream.token(text));
  }
  if (behaviour.hangAfterTokens !== null && behaviour.tokens.length <= behaviour.hangAfterTokens) return hang(gone);
  for (const event of stream.closing) res.write(event);
  res.end();
}

/** OpenAI `chat.completion.chunk` events as `data:` lines, ending with the usage chunk (when asked for) and `[DONE]`. */
function openAiStream(body: any, behaviour: FakeLlmBehaviour, n: number): WireStream {
  const includeUsage = body.stream_options?.include_usage === true;
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    sse(undefined, {
      id: `chatcmpl-fake-${n}`,
      object: 'chat.completion.chunk',
      created: CREATED,
      model: body.model,
      system_fingerprint: 'fp_fake',
      choices,
      ...(includeUsage ? { usage: null } : {}),
      ...extra,
    });
  const choice = (delta: Record<string, unknown>, finishReason: string | null = null) => ({
    index: 0,
    delta,
    logprobs: null,
    finish_reason: finishReason,
  });
  const completionTokens = behaviour.tokens.length;
  const closing = [chunk([choice({}, behaviour.finishReason ?? 'stop')])];
  if (includeUsage) {
    closing.push(
      chunk([], {
        usage: {
          prompt_tokens: behaviour.promptTokens,
          completion_tokens: completionTokens,
          total_tokens: behaviour.promptTokens + completionTokens,
        },
      }),
    );
  }
  closing.push('data: [DONE]\n\n');
  return {
    opening: [chunk([choice({ role: 'assistant', content: '', refusal: null })])],
    token: (text) => chunk([choice({ content: text })]),
    closing,
  };
}

/** Anthropic Messages events, each as `event: X` + `data: {...}`. */
function anthropicStream(body: any, behaviour: FakeLlmBehaviour, n: number): WireStream {
  const message = {
    id: `msg_fake_${n}`,
    type: 'message',
    role: 'assistant',
    model: body.model,
    content: [],
    stop_reason: null,
    stop_sequence: null,
    usage: { input_tokens: behaviour.promptTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 },
  };
  return {
    opening: [
      sse('message_start', { type: 'message_start', message }),
      sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
      sse('ping', { type: 'ping' }),
    ],
    token: (text) => sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }),
    closing: [
      sse('content_block_stop', { type: 'content_block_stop', index: 0 }),
      sse('message_delta', {
        type: 'message_delta',
        delta: { stop_reason: behaviour.finishReason ?? 'end_turn', stop_sequence: null },
        usage: { output_tokens: behaviour.tokens.length },
      }),
      sse('message_stop', { type: 'message_stop' }),
    ],
  };
}

/** Whether the request carries `expected` as its key (OpenAI: a bearer token; Anthropic: x-api-key); any key when null. */
function keyAccepted(req: IncomingMessage, expected: string | null): boolean {
  if (expected === null) return true;
  return req.headers.authorization === `Bearer ${expected}` || req.headers['x-api-key'] === expected;
}

/** Error response in the API's own error format. */
function sendError(res: ServerResponse, api: RecordedRequest['api'], status: number, message: string): void {
  if (api === 'anthropic') {
    const type = status === 529 ? 'overloaded_error' : status >= 500 ? 'api_error' : status === 401 ? 'authentication_error' : 'invalid_request_error';
    return sendJson(res, status, { type: 'error', error: { type, message } });
  }
  sendJson(res, status, { error: { message, type: status >= 500 ? 'server_error' : 'invalid_request_error', param: null, code: null } });
}

function sendJson(res: ServerResponse, status: number, payload: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(payload));
}

function sse(event: string | undefined, data: unknown): string {
  return `${event ? `event: ${event}\n` : ''}data: ${JSON.stringify(data)}\n\n`;
}

/** Waits `ms`; false when the client went away meanwhile. */
async function pause(ms: number, gone: AbortSignal): Promise<boolean> {
  if (gone.aborted) return false;
  if (ms <= 0) return true;
  try {
    await sleep(ms, undefined, { signal: gone });
    return true;
  } catch {
    return false;
  }
}

/** Keeps the response open until the client disconnects or the server closes. */
function hang(gone: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (gone.aborted) resolve();
    else gone.addEventListener('abort', () => resolve(), { once: true });
  });
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
