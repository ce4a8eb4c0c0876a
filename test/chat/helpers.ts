/** Shared helpers of the live-chat suites (test/chat): a conversation to chat in, sending, waiting, raw sockets. */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket from 'ws';
import type { TestSystem } from '../support/system';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** System start-up is slow on a busy 2-core machine: hooks get this long. */
export const START_TIMEOUT_MS = 90_000;

/** Everything a chat event can carry, cross-subgraph fields included. */
export const EVENTS = /* GraphQL */ `
  subscription($id: ID!) {
    conversationEvents(conversationId: $id) {
      kind messageId delta sequence error
      message { id role status content error finishReason provider model tokenUsage { promptTokens completionTokens totalTokens } }
    }
  }`;

export const MESSAGE_FIELDS = 'id role status content error finishReason provider model latencyMs completedAt author { id } tokenUsage { promptTokens completionTokens totalTokens }';

export const SEND = /* GraphQL */ `
  mutation($input: SendMessageInput!) { sendMessage(input: $input) { message { ${MESSAGE_FIELDS} } reply { ${MESSAGE_FIELDS} } } }`;

export const MESSAGE = /* GraphQL */ `query($id: ID!) { message(id: $id) { ${MESSAGE_FIELDS} } }`;

export const CONVERSATION = /* GraphQL */ `
  query($id: ID!) { conversation(id: $id) { id status messageCount messages(first: 100) { edges { node { ${MESSAGE_FIELDS} } } } } }`;

export type User = Awaited<ReturnType<TestSystem['signUp']>>;

/** A user with a character of their own and a fresh conversation with it. */
export interface Chat {
  user: User;
  characterId: string;
  conversationId: string;
}

/** Signs a user up, creates a character and starts a conversation with it. */
export async function startChat(
  t: TestSystem,
  options: { name?: string; character?: Record<string, unknown>; user?: User } = {},
): Promise<Chat> {
  const user = options.user ?? (await t.signUp(options.name ?? 'Tester'));
  const character = await t.gql(
    `mutation($input: CharacterInput!) { createCharacter(input: $input) { id } }`,
    { input: { name: 'Sherlock', personality: 'Observant and precise', greeting: 'Come in, Watson.', ...options.character } },
    user.token,
  );
  if (!character.data) throw new Error(`createCharacter failed: ${JSON.stringify(character.errors)}`);
  const conversation = await t.gql(
    `mutation($c: ID!) { startConversation(input: { characterId: $c, title: "Baker Street" }) { id } }`,
    { c: character.data.createCharacter.id },
    user.token,
  );
  if (!conversation.data) throw new Error(`startConversation failed: ${JSON.stringify(conversation.errors)}`);
  return { user, characterId: character.data.createCharacter.id, conversationId: conversation.data.startConversation.id };
}

/** sendMessage, raw (errors are returned, not thrown). */
export function send(t: TestSystem, token: string, conversationId: string, content: string, clientMessageId?: string) {
  return t.gql(SEND, { input: { conversationId, content, ...(clientMessageId === undefined ? {} : { clientMessageId }) } }, token);
}

/** sendMessage that must succeed; returns the payload. */
export async function sendOk(t: TestSystem, token: string, conversationId: string, content: string, clientMessageId?: string) {
  const res = await send(t, token, conversationId, content, clientMessageId);
  if (!res.data?.sendMessage) throw new Error(`sendMessage failed: ${JSON.stringify(res.errors)}`);
  return res.data.sendMessage as { message: any; reply: any };
}

const OPEN = new Set(['PENDING', 'STREAMING']);

/** Polls `message(id)` until the reply has ended; returns it. */
export async function waitForEnd(t: TestSystem, token: string, id: string, timeoutMs = 15_000): Promise<any> {
  const start = Date.now();
  for (;;) {
    const res = await t.gql(MESSAGE, { id }, token);
    const message = res.data?.message;
    if (message && !OPEN.has(message.status)) return message;
    if (Date.now() - start > timeoutMs) throw new Error(`reply ${id} did not end within ${timeoutMs} ms: ${JSON.stringify(res)}`);
    await sleep(50);
  }
}

/** Polls `check` until it returns true. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** The conversation as its owner sees it. */
export async function conversation(t: TestSystem, token: string, id: string): Promise<{ status: string; messageCount: number; messages: any[] }> {
  const res = await t.gql(CONVERSATION, { id }, token);
  if (!res.data?.conversation) throw new Error(`conversation failed: ${JSON.stringify(res.errors ?? res.data)}`);
  const c = res.data.conversation;
  return { status: c.status, messageCount: c.messageCount, messages: c.messages.edges.map((e: any) => e.node) };
}

/** `me { credits }`. */
export async function credits(t: TestSystem, token: string): Promise<number> {
  const res = await t.gql(`{ me { credits } }`, {}, token);
  return res.data.me.credits;
}

/** The first error's code. */
export const codeOf = (res: { errors?: Array<{ extensions?: { code?: string } }> }) => res.errors?.[0]?.extensions?.code;

/** Events of one reply, and its terminal events. */
export function replyEvents(events: any[], replyId: string) {
  const mine = events.filter((e) => e.messageId === replyId);
  const deltas = mine.filter((e) => e.kind === 'REPLY_DELTA');
  return {
    deltas,
    text: deltas.map((d) => d.delta).join(''),
    sequences: deltas.map((d) => d.sequence),
    terminals: mine.filter((e) => ['REPLY_COMPLETED', 'REPLY_FAILED', 'REPLY_CANCELLED'].includes(e.kind)),
  };
}
export const endedReply = (replyId: string) => (events: any[]) => replyEvents(events, replyId).terminals.length > 0;

/** A raw graphql-transport-ws socket, for protocol-level tests. */
export interface RawSocket {
  ws: WebSocket;
  /** Messages received (parsed). */
  messages: any[];
  /** Resolves when the socket is open. */
  opened: Promise<void>;
  /** Resolves with the close code and reason. */
  closed: Promise<{ code: number; reason: string }>;
  send(message: unknown): void;
  /** Resolves with the first received message of `type` (waiting if needed). */
  next(type: string, timeoutMs?: number): Promise<any>;
}

export function rawSocket(url: string): RawSocket {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), 'graphql-transport-ws');
  const messages: any[] = [];
  const waiters = new Set<() => void>();
  ws.on('message', (data) => {
    messages.push(JSON.parse(String(data)));
    waiters.forEach((w) => w());
  });
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
  return {
    ws,
    messages,
    opened,
    closed,
    send: (message) => ws.send(JSON.stringify(message)),
    next(type, timeoutMs = 5_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = messages.find((m) => m.type === type);
          if (!found) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no "${type}" message within ${timeoutMs} ms; got ${JSON.stringify(messages)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}

/** Resolves with `promise`, or rejects after `timeoutMs` (the timer does not outlive the race). */
export function within<T>(promise: Promise<T>, timeoutMs: number, what = 'promise'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves with the close of `socket`, or rejects after `timeoutMs`. */
export function closedWithin(socket: RawSocket, timeoutMs: number): Promise<{ code: number; reason: string }> {
  return within(socket.closed, timeoutMs, 'the socket close');
}

/**
 * Watches the WebSocket connections a subgraph's HTTP server accepts (the gateway's upstream sockets).
 * `mark()` then `openSince(mark)`: how many of those accepted since the mark are still open.
 */
export function watchUpgrades(server: { on(event: 'upgrade', listener: (req: IncomingMessage, socket: Duplex) => void): unknown }) {
  const sockets: Array<{ open: boolean }> = [];
  server.on('upgrade', (_req, socket) => {
    const entry = { open: true };
    sockets.push(entry);
    socket.once('close', () => (entry.open = false));
  });
  return {
    mark: () => sockets.length,
    openedSince: (mark: number) => sockets.length - mark,
    openSince: (mark: number) => sockets.slice(mark).filter((s) => s.open).length,
  };
}

/** The event bus every context of the messages subgraph shares. */
export function messagesBus(t: TestSystem): Parameters<typeof watchListeners>[0] {
  return (t.system.subgraphs.messages.service.createContext({ caller: { service: 'gateway' }, viewer: null }) as { bus: Parameters<typeof watchListeners>[0] }).bus;
}

/** Wraps an event bus's `listen` (all its arguments passed on) to count live listeners per conversation. */
export function watchListeners(bus: { listen(conversationId: string, ...rest: any[]): Promise<() => void> }) {
  const live = new Map<string, number>();
  const original = bus.listen.bind(bus);
  bus.listen = async (conversationId: string, ...rest: any[]) => {
    const stop = await original(conversationId, ...rest);
    live.set(conversationId, (live.get(conversationId) ?? 0) + 1);
    let stopped = false;
    return () => {
      if (!stopped) {
        stopped = true;
        live.set(conversationId, (live.get(conversationId) ?? 1) - 1);
      }
      stop();
    };
  };
  return { count: (conversationId: string) => live.get(conversationId) ?? 0 };
}
