/**
 * Files arrive as base64 (GraphQL has no bytes), and cards carry base64 inside PNG chunks. Node's
 * decoder skips what is not base64 without a word; these checks refuse it instead, and refuse a
 * file over its size before decoding it.
 */
import type { GraphQLError } from 'graphql';

/** Standard or URL-safe base64, padded or not, whitespace (line breaks) allowed between. */
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
/** A data: URL's prefix, which clients often leave on (`data:image/png;base64,`). */
const DATA_URL_PREFIX = /^data:[^,;]*(;[^,;]*)*;base64,/i;

/** Why base64 was refused. */
export type Base64Problem = 'not base64' | 'too large';

/** The bytes `text` encodes, or why not: it is not base64, or it holds more than `maxBytes`. */
export function decodeBase64(text: string, maxBytes: number): Buffer | Base64Problem {
  const compact = text.replace(DATA_URL_PREFIX, '').replace(/\s+/g, '');
  if (!BASE64.test(compact) || compact.length % 4 === 1) return 'not base64';
  const padding = compact.endsWith('==') ? 2 : compact.endsWith('=') ? 1 : 0;
  if (Math.floor((compact.length * 3) / 4) - padding > maxBytes) return 'too large';
  // Node's base64 decoder reads the URL-safe alphabet too.
  return Buffer.from(compact, 'base64');
}

/** Like decodeBase64, refusing through `refuse` (BAD_USER_INPUT naming the field). */
export function base64Bytes(text: string, maxBytes: number, refuse: (why: string) => GraphQLError): Buffer {
  const bytes = decodeBase64(text, maxBytes);
  if (bytes === 'not base64') throw refuse('must be base64');
  if (bytes === 'too large') throw refuse(`must be at most ${maxBytes} bytes (${Math.round(maxBytes / 1024 / 1024)} MiB)`);
  return bytes;
}
