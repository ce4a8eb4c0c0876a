/**
 * The characters subgraph's image route (CHARACTER_IMAGE_ROUTE, `?id=<character>`), which the gateway
 * serves to clients: the stored bytes with their type, an ETag (304 when the client has them), and
 * cache headers. A PUBLIC live character's image is anyone's; any other answers only a URL signed
 * for it (images/urls.ts) and not expired, else 404, as if there were no image.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Route } from '@chat/shared/http';
import { CHARACTER_IMAGE_PARAMS } from '@chat/shared/images';
import type { ImageStore } from './store';
import { SIGNED_URL_WINDOW_SECONDS, type ImageUrls } from './urls';

/** How long clients and shared caches may keep a public image (its URL changes with its version). */
export const PUBLIC_IMAGE_MAX_AGE_SECONDS = 3600;

/** Whether an If-None-Match header names `etag` (a list, weak or strong, or `*`). */
export function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((tag) => {
    const value = tag.trim();
    return value === '*' || value.replace(/^W\//, '') === etag;
  });
}

function refuse(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.end(message);
}

/** The route: GET and HEAD only. */
export function imageRoute(images: ImageStore, urls: ImageUrls, now: () => Date = () => new Date()): Route {
  return async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return refuse(res, 405, 'Method not allowed.');
    }
    const params = new URL(req.url ?? '/', 'http://localhost').searchParams;
    const id = params.get(CHARACTER_IMAGE_PARAMS.id) ?? '';
    const image = await images.forServing(id);
    const open = image !== undefined && image.visibility === 'PUBLIC' && image.deleted_at === null;
    const expires = params.get(CHARACTER_IMAGE_PARAMS.expires);
    const signed = !open && urls.verify(id, expires, params.get(CHARACTER_IMAGE_PARAMS.signature), now());
    // No image, and an image this URL may not show, look the same.
    if (!image || (!open && !signed)) return refuse(res, 404, 'Image not found.');
    const etag = `"${image.etag}"`;
    const maxAge = open ? PUBLIC_IMAGE_MAX_AGE_SECONDS : Math.min(SIGNED_URL_WINDOW_SECONDS, Math.max(0, Number(expires) - Math.floor(now().getTime() / 1000)));
    const headers = {
      etag,
      'cache-control': `${open ? 'public' : 'private'}, max-age=${maxAge}`,
      'last-modified': image.created_at.toUTCString(),
      'x-content-type-options': 'nosniff',
    };
    if (matchesEtag(req.headers['if-none-match'], etag)) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    const body = Buffer.from(image.data);
    res.writeHead(200, { ...headers, 'content-type': image.mime_type, 'content-length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}
