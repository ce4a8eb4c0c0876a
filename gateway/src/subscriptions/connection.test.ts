/**
 * Connection accounting of the graphql-ws server (connection.ts) with stand-in sockets: the
 * per-user socket quota, the gauges, the per-socket subscription quota, the client address, a
 * socket that closes while its `connection_init` is still being authenticated, and revoked sessions.
 */
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from '@jest/globals';
import type { Context } from 'graphql-ws';
import { ErrorCode } from '@chat/shared/errors';
import { clientAddressResolver } from '../client-address';
import { connectionContext, createConnections, SUBSCRIPTION_QUOTA_RETRY_AFTER_SECONDS, type ConnectionOptions, type SubscriptionAuth } from './connection';
import { CloseCode } from './protocol';

const OPEN = 1;
const CLOSED = 3;

/** A stand-in for a `ws` socket: its state and the codes it was closed with. */
interface FakeSocket {
  readonly OPEN: number;
  readyState: number;
  readonly closedWith: number[];
  close(code: number): void;
}

function fakeSocket(): FakeSocket {
  return {
    OPEN,
    readyState: OPEN,
    closedWith: [],
    close(code) {
      this.readyState = CLOSED;
      this.closedWith.push(code);
    },
  };
}

/** graphql-ws's context for a socket whose upgrade came from `remoteAddress` with `headers`. */
function contextOf(socket: FakeSocket, remoteAddress = '10.0.0.9', headers: Record<string, string> = {}): Context {
  const request = { socket: { remoteAddress }, headers } as unknown as IncomingMessage;
  return { connectionInitReceived: true, acknowledged: false, subscriptions: {}, extra: { socket, request }, connectionParams: {} } as unknown as Context;
}

/** A gauge that remembers its value. */
function gauge() {
  return {
    value: 0,
    inc() {
      this.value += 1;
    },
    dec(amount = 1) {
      this.value -= amount;
    },
  };
}

/** Connections of user `u1` with at most `maxConnectionsPerUser` sockets and 2 subscriptions each. */
function setUp(authenticate: ConnectionOptions['authenticate'], maxConnectionsPerUser = 1, extra: Partial<ConnectionOptions> = {}) {
  const gauges = { connections: gauge(), subscriptions: gauge() };
  const connections = createConnections({
    authenticate,
    gauges,
    socketLimits: { maxConnectionsPerUser, maxSubscriptionsPerConnection: 2, maxMessageBytes: 1024 },
    ...extra,
  });
  return { connections, gauges };
}

const user: SubscriptionAuth = { authorization: 'Bearer t', viewer: { id: 'u1' }, userKey: 'u1' };

describe('connections', () => {
  it('count nothing for a socket that closed while it was being authenticated, so the user keeps the quota', async () => {
    let verified!: (auth: SubscriptionAuth) => void;
    const slow = () => new Promise<SubscriptionAuth>((resolve) => (verified = resolve));
    const { connections, gauges } = setUp(slow);
    for (let drop = 0; drop < 3; drop += 1) {
      const socket = fakeSocket();
      const ctx = contextOf(socket);
      const opening = connections.open(ctx);
      // The client goes; graphql-ws calls onClose at once, before `authenticate` has answered.
      socket.readyState = CLOSED;
      await connections.close(ctx);
      verified(user);
      expect(await opening).toBe(false);
      expect(connections.get(ctx)).toBeUndefined();
    }
    expect(gauges.connections.value).toBe(0);
    const socket = fakeSocket();
    const opening = connections.open(contextOf(socket));
    verified(user);
    expect(await opening).toBe(true);
    expect(socket.closedWith).toEqual([]);
    expect(gauges.connections.value).toBe(1);
    await connections.disposeAll();
  });

  it('close a user’s socket beyond the quota with 4403, and free the place when one closes', async () => {
    const { connections, gauges } = setUp(async () => user, 2);
    const sockets = [fakeSocket(), fakeSocket(), fakeSocket()];
    const contexts = sockets.map((socket) => contextOf(socket));
    expect(await connections.open(contexts[0])).toBe(true);
    expect(await connections.open(contexts[1])).toBe(true);
    expect(await connections.open(contexts[2])).toBe(false);
    expect(sockets[2].closedWith).toEqual([CloseCode.Forbidden]);
    expect(gauges.connections.value).toBe(2);
    await connections.close(contexts[0]);
    expect(gauges.connections.value).toBe(1);
    expect(await connections.open(contextOf(fakeSocket()))).toBe(true);
    await connections.disposeAll();
  });

  it('close the sockets of a session with 4403 when it is revoked, refuse a new one of it, and leave other sessions be', async () => {
    const listeners = new Set<(sessionIds: ReadonlySet<string>) => void>();
    const revoked = new Set<string>();
    const revocations = {
      isRevoked: (sessionId: string | undefined) => sessionId !== undefined && revoked.has(sessionId),
      onRevoked(listener: (sessionIds: ReadonlySet<string>) => void) {
        listeners.add(listener);
        return () => void listeners.delete(listener);
      },
    };
    let session = 's1';
    const { connections, gauges } = setUp(async () => ({ ...user, sessionId: session }), 5, { revocations });
    const [first, second, other] = [fakeSocket(), fakeSocket(), fakeSocket()];
    expect(await connections.open(contextOf(first))).toBe(true);
    expect(await connections.open(contextOf(second))).toBe(true);
    session = 's2';
    expect(await connections.open(contextOf(other))).toBe(true);

    revoked.add('s1');
    for (const listener of listeners) listener(new Set(['s1']));
    expect([first.closedWith, second.closedWith, other.closedWith]).toEqual([[CloseCode.Forbidden], [CloseCode.Forbidden], []]);
    // Revoked while `authenticate` ran (it let the token through): refused all the same.
    session = 's1';
    expect(await connections.open(contextOf(fakeSocket()))).toBe(false);
    expect(gauges.connections.value).toBe(3);
    await connections.disposeAll();
    expect(listeners.size).toBe(0);
  });

  it('refuse a socket whose authentication fails, counting nothing', async () => {
    const { connections, gauges } = setUp(async () => {
      throw new Error('bad token');
    });
    expect(await connections.open(contextOf(fakeSocket()))).toBe(false);
    expect(gauges.connections.value).toBe(0);
  });

  it('refuse a subscription past the per-socket quota with RATE_LIMITED, and count subscriptions in the gauge', async () => {
    const { connections, gauges } = setUp(async () => user);
    const ctx = contextOf(fakeSocket());
    await connections.open(ctx);
    const connection = connections.get(ctx)!;
    connections.subscribed(connection, 'a');
    expect(connections.subscriptionRefusal(connection)).toBeUndefined();
    connections.subscribed(connection, 'b');
    expect(connections.subscriptionRefusal(connection)?.extensions).toEqual({
      code: ErrorCode.RATE_LIMITED,
      retryAfterSeconds: SUBSCRIPTION_QUOTA_RETRY_AFTER_SECONDS,
    });
    expect(gauges.subscriptions.value).toBe(2);
    connections.unsubscribed(connection, 'a');
    connections.unsubscribed(connection, 'a');
    expect(gauges.subscriptions.value).toBe(1);
    await connections.close(ctx);
    expect(gauges.subscriptions.value).toBe(0);
    expect(gauges.connections.value).toBe(0);
  });

  it('hand data sources the authorization, the viewer and the client address', async () => {
    const direct = setUp(async () => user);
    const ctx = contextOf(fakeSocket(), '10.0.0.9', { 'x-forwarded-for': '203.0.113.7' });
    await direct.connections.open(ctx);
    expect(connectionContext(direct.connections.get(ctx)!)).toEqual({ authorization: 'Bearer t', viewer: { id: 'u1' }, clientAddress: '10.0.0.9' });
    await direct.connections.disposeAll();

    const proxied = setUp(async () => user, 1, { clientAddress: clientAddressResolver(true) });
    await proxied.connections.open(ctx);
    expect(connectionContext(proxied.connections.get(ctx)!).clientAddress).toBe('203.0.113.7');
    await proxied.connections.disposeAll();
  });
});
