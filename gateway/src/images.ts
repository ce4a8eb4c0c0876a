/**
 * Character images for clients: GET (or HEAD) `/images/characters/<id>` is passed on to the
 * characters subgraph's image route, which stores the bytes and decides who may load them (a
 * private character's image only through a signed, unexpired URL). The gateway adds nothing and
 * decides nothing: it forwards the query (version, expiry, signature) and If-None-Match, and
 * hands back the status, the image and its content type, ETag and cache headers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Config } from '@chat/shared/config';
import { CHARACTER_IMAGE_PARAMS, CHARACTER_IMAGE_ROUTE, IMAGE_REQUEST_HEADERS, IMAGE_RESPONSE_HEADERS, IMAGES_PATH } from '@chat/shared/images';

/** How long the gateway waits for the characters subgraph's answer. */
export const IMAGE_UPSTREAM_TIMEOUT_MS = 10_000;

/** A handler that answers the requests it owns and returns true, or leaves the request alone and returns false. */
export type ImageHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

function answer(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end(message);
}

/** Serves IMAGES_PATH from the characters subgraph at `config.subgraphUrls.characters`'s origin. */
export function createImageHandler(config: Pick<Config, 'subgraphUrls'>): ImageHandler {
  const upstream = new URL(CHARACTER_IMAGE_ROUTE, config.subgraphUrls.characters);
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (!url.pathname.startsWith(IMAGES_PATH)) return false;
    void forward(req, res, url).catch(() => {
      if (!res.headersSent) answer(res, 502, 'The image could not be fetched.');
      else res.destroy();
    });
    return true;
  };

  async function forward(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return answer(res, 405, 'Method not allowed.');
    }
    const id = url.pathname.slice(IMAGES_PATH.length);
    if (!id || id.includes('/')) return answer(res, 404, 'Image not found.');
    const target = new URL(upstream);
    target.searchParams.set(CHARACTER_IMAGE_PARAMS.id, id);
    for (const name of [CHARACTER_IMAGE_PARAMS.version, CHARACTER_IMAGE_PARAMS.expires, CHARACTER_IMAGE_PARAMS.signature]) {
      const value = url.searchParams.get(name);
      if (value !== null) target.searchParams.set(name, value);
    }
    const headers: Record<string, string> = {};
    for (const name of IMAGE_REQUEST_HEADERS) {
      const value = req.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    const response = await fetch(target, { method: req.method, headers, signal: AbortSignal.timeout(IMAGE_UPSTREAM_TIMEOUT_MS) });
    const passed: Record<string, string> = {};
    for (const name of IMAGE_RESPONSE_HEADERS) {
      const value = response.headers.get(name);
      if (value !== null) passed[name] = value;
    }
    res.writeHead(response.status, passed);
    if (!response.body || req.method === 'HEAD') {
      res.end();
      return;
    }
    await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), res);
  }
}
