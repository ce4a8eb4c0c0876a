/** graphql-ws limits at the gateway, tried over raw sockets speaking graphql-transport-ws. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import WebSocket from 'ws';
import { METRIC_PREFIX, METRICS_PATH } from '@chat/shared/metrics';
import { waitUntil } from '../chat/helpers';
import { startTestSystem, type TestSystem } from '../support/system';
import { openRawSocket, type RawSocket } from '../support/ws';

/** Opens a socket and sends connection_init with the token; resolves once acknowledged or closed. */
const open = (url: string, token: string): Promise<RawSocket> => openRawSocket(url, { authorization: `Bearer ${token}` });

/** Opens a socket, sends connection_init with the token and drops the socket at once; resolves once it is closed. */
function dropAfterInit(url: string, token: string): Promise<void> {
  const socket = new WebSocket(url.replace(/^http/, 'ws'), 'graphql-transport-ws');
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.once('close', () => resolve());
    socket.once('open', () => {
      socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
      socket.terminate();
    });
  });
}

/** The graphql-ws connections the gateway's gauge counts open now. */
async function openConnections(t: TestSystem): Promise<number> {
  const text = await (await fetch(new URL(METRICS_PATH, t.gatewayUrl))).text();
  // One sample, labelled with the service: `chat_ws_connections{service="gateway"} 2`.
  const line = new RegExp(`^${METRIC_PREFIX}ws_connections(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  if (!line) throw new Error('the gateway reports no connection gauge');
  return Number(line[1]);
}

describe('graphql-ws limits', () => {
  let t: TestSystem;
  const EVENTS = `subscription($id: ID!) { conversationEvents(conversationId: $id) { kind } }`;

  beforeAll(async () => {
    t = await startTestSystem('pglite', {
      WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: '2',
      WS_MAX_CONNECTIONS_PER_USER: '2',
      WS_MAX_MESSAGE_BYTES: '2048',
      ACCESS_TOKEN_TTL_SECONDS: '6',
    });
  });
  afterAll(() => t?.stop());

  it('refuses a subscription past the per-connection cap, and takes one again once another ends', async () => {
    const me = await t.signUp();
    const character = await t.gql(`mutation { createCharacter(input: { name: "Cap" }) { id } }`, {}, me.token);
    const id = (await t.gql(`mutation($c: ID!) { startConversation(input: { characterId: $c }) { id } }`, { c: character.data.createCharacter.id }, me.token)).data.startConversation.id;
    const raw = await open(t.gatewayUrl, me.token);
    for (const n of ['1', '2', '3']) raw.send({ id: n, type: 'subscribe', payload: { query: EVENTS, variables: { id } } });
    const refused = await raw.next((m) => m.id === '3' && m.type === 'error');
    expect(refused.payload[0].extensions.code).toBe('RATE_LIMITED');
    expect(raw.messages.some((m) => (m.id === '1' || m.id === '2') && m.type === 'error')).toBe(false);
    raw.send({ id: '1', type: 'complete' });
    await new Promise((r) => setTimeout(r, 300));
    raw.send({ id: '4', type: 'subscribe', payload: { query: EVENTS, variables: { id } } });
    await new Promise((r) => setTimeout(r, 500));
    expect(raw.messages.some((m) => m.id === '4' && m.type === 'error')).toBe(false);
    raw.socket.close();
  });

  it("closes a user's third socket with 4403, while other users connect", async () => {
    const me = await t.signUp();
    const first = await open(t.gatewayUrl, me.token);
    const second = await open(t.gatewayUrl, me.token);
    const third = await open(t.gatewayUrl, me.token);
    expect((await third.closed).code).toBe(4403);
    expect(first.messages[0].type).toBe('connection_ack');
    expect(second.messages[0].type).toBe('connection_ack');
    const other = await open(t.gatewayUrl, (await t.signUp()).token);
    expect(other.messages[0].type).toBe('connection_ack');
    // A socket closed frees its place.
    first.socket.close();
    await first.closed;
    await new Promise((r) => setTimeout(r, 100));
    const again = await open(t.gatewayUrl, me.token);
    expect(again.messages[0].type).toBe('connection_ack');
    for (const s of [second, other, again]) s.socket.close();
  });

  it('counts no socket that closed while its connection_init was being authenticated (issue 14, item 8)', async () => {
    const me = await t.signUp();
    const limit = t.config.socketLimits.maxConnectionsPerUser;
    const before = await openConnections(t);
    // Three times the quota of sockets that send connection_init and go before the token is verified.
    await Promise.all(Array.from({ length: 3 * limit }, () => dropAfterInit(t.gatewayUrl, me.token)));
    // The user still has the whole quota: `limit` sockets are accepted, one more is refused.
    const accepted: RawSocket[] = [];
    for (let n = 0; n < limit; n += 1) {
      const raw = await open(t.gatewayUrl, me.token);
      expect(raw.messages[0]?.type).toBe('connection_ack');
      accepted.push(raw);
    }
    expect(await openConnections(t)).toBe(before + limit);
    const extra = await open(t.gatewayUrl, me.token);
    expect((await extra.closed).code).toBe(4403);
    for (const raw of accepted) raw.socket.close();
    await Promise.all(accepted.map((raw) => raw.closed));
    await waitUntil(async () => (await openConnections(t)) === before, 5_000, 'the gauge back where it was');
    const again = await open(t.gatewayUrl, me.token);
    expect(again.messages[0]?.type).toBe('connection_ack');
    again.socket.close();
  });

  it('closes the socket with 1009 on a message over the size cap', async () => {
    const me = await t.signUp();
    const raw = await open(t.gatewayUrl, me.token);
    raw.send({ id: 'big', type: 'subscribe', payload: { query: EVENTS, variables: { id: 'x'.repeat(4000) } } });
    expect((await raw.closed).code).toBe(1009);
  });

  it('closes a socket with 4403 when its access token expires', async () => {
    const me = await t.signUp();
    const issued = Date.now();
    const raw = await open(t.gatewayUrl, me.token);
    expect(raw.messages[0].type).toBe('connection_ack');
    const { code } = await raw.closed;
    expect(code).toBe(4403);
    const lived = Date.now() - issued;
    expect(lived).toBeGreaterThan(4_000);
    expect(lived).toBeLessThan(9_000);
  }, 20_000);
});
