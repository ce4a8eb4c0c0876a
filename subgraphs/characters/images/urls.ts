/**
 * The URLs clients load character images from (through the gateway, IMAGES_PATH). A PUBLIC live
 * character's image is anyone's; any other image only through a URL signed with an HMAC over the
 * character's id and an expiry, which the characters subgraph checks before it answers.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ConfigError, type Config } from '@chat/shared/config';
import { generatedOnce } from '@chat/shared/key-files';
import { CHARACTER_IMAGE_PARAMS, IMAGES_PATH } from '@chat/shared/images';

/**
 * How long a signed URL lasts: expiries are rounded up to a whole window, so a client sees one
 * URL for a while (its cache keeps working) and each URL lasts between one and two windows.
 */
export const SIGNED_URL_WINDOW_SECONDS = 3600;
/** Where a generated key is kept, under DATA_DIR/keys. */
export const IMAGE_KEY_FILE = 'image-url-key';

/** Signs and checks image URLs. */
export interface ImageUrls {
  /** The URL of a character's image (version `etag`); signed unless `open`. */
  url(characterId: string, etag: string, open: boolean, now?: Date): string;
  /** Whether a signature and expiry (as a URL carries them) are valid for the character at `now`. */
  verify(characterId: string, expires: string | null, signature: string | null, now?: Date): boolean;
}

/**
 * IMAGE_URL_SECRET; without it outside production, a key generated once and kept under
 * DATA_DIR/keys (per process with `memory://`). Production refuses to start without one.
 */
export function loadImageKey(config: Pick<Config, 'nodeEnv' | 'dataDir' | 'images'>): Buffer {
  if (config.images.urlSecret) return Buffer.from(config.images.urlSecret, 'utf8');
  if (config.nodeEnv === 'production') throw new ConfigError('IMAGE_URL_SECRET is required in production (e.g. openssl rand -base64 32)');
  if (config.dataDir === 'memory://') return randomBytes(32);
  return Buffer.from(generatedOnce(config.dataDir, IMAGE_KEY_FILE, () => randomBytes(32).toString('base64')).trim(), 'base64');
}

/** Image URLs on `publicUrl` (the gateway as clients reach it), signed with `key`. */
export function imageUrls(publicUrl: string, key: Buffer): ImageUrls {
  const sign = (id: string, expires: string) => createHmac('sha256', key).update(`${id}\n${expires}`).digest('base64url');
  return {
    url(characterId, etag, open, now = new Date()) {
      const url = new URL(`${IMAGES_PATH}${characterId}`, publicUrl);
      url.searchParams.set(CHARACTER_IMAGE_PARAMS.version, etag);
      if (!open) {
        const window = SIGNED_URL_WINDOW_SECONDS;
        const expires = String((Math.floor(now.getTime() / 1000 / window) + 2) * window);
        url.searchParams.set(CHARACTER_IMAGE_PARAMS.expires, expires);
        url.searchParams.set(CHARACTER_IMAGE_PARAMS.signature, sign(characterId, expires));
      }
      return url.toString();
    },
    verify(characterId, expires, signature, now = new Date()) {
      if (!expires || !signature || !/^\d{1,12}$/.test(expires)) return false;
      if (Number(expires) * 1000 <= now.getTime()) return false;
      const expected = Buffer.from(sign(characterId, expires));
      const given = Buffer.from(signature);
      return given.length === expected.length && timingSafeEqual(given, expected);
    },
  };
}
