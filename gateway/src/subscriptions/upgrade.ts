/**
 * HTTP upgrade routing: WebSocket upgrades on the subscription server's path go to its `ws`
 * server; an upgrade on a path that no subscription server on the HTTP server claims is
 * answered 404 instead of being left hanging.
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';

/** Tag on this module's 'upgrade' listeners: the path each one serves (lets them 404 unclaimed paths). */
const UPGRADE_PATH = Symbol.for('character-chat.gateway.subscriptions.upgradePath');

/** The answer to an upgrade nobody serves. */
const NOT_FOUND_RESPONSE = 'HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';

/** An 'upgrade' listener tagged with the path it serves. */
type UpgradeListener = ((request: IncomingMessage, socket: Duplex, head: Buffer) => void) & { [UPGRADE_PATH]?: string };

/** Hands upgrades on `path` of `httpServer` to `wss` (as its 'connection' event); returns a function that stops. */
export function routeUpgrades(httpServer: HttpServer, path: string, wss: WebSocketServer): () => void {
  const onUpgrade: UpgradeListener = (request, socket, head) => {
    const requested = requestPath(request);
    if (requested !== path) {
      if (isUnclaimedUpgrade(httpServer, onUpgrade, requested)) socket.end(NOT_FOUND_RESPONSE);
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
  };
  onUpgrade[UPGRADE_PATH] = path;
  httpServer.on('upgrade', onUpgrade);
  return () => void httpServer.off('upgrade', onUpgrade);
}

/**
 * Whether an upgrade for `requested` will be handled by nobody, in which case the first
 * of our listeners answers 404 instead of leaving the socket hanging. Only decidable when
 * every 'upgrade' listener on the server is one of ours; otherwise it is left alone.
 */
function isUnclaimedUpgrade(httpServer: HttpServer, self: UpgradeListener, requested: string): boolean {
  const listeners = httpServer.listeners('upgrade') as UpgradeListener[];
  return (
    listeners[0] === self &&
    listeners.every((listener) => typeof listener[UPGRADE_PATH] === 'string') &&
    !listeners.some((listener) => listener[UPGRADE_PATH] === requested)
  );
}

/** Pathname of an upgrade request. */
function requestPath(request: IncomingMessage): string {
  return new URL(request.url ?? '/', 'http://localhost').pathname;
}
