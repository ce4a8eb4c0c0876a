/** Images without a database: re-encoding (bounds, formats, metadata gone) and signed URLs. */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '@chat/shared/config';
import sharp from 'sharp';
import { picture, pngCard, cardV2 } from '../../../test/cards/fixtures';
import { refusalOf } from '../../../test/cards/refusals';
import { IMAGE_BOUNDS, processImage } from './process';
import { imageUrls, loadImageKey, SIGNED_URL_WINDOW_SECONDS } from './urls';

const refused = (run: () => Promise<unknown>) => refusalOf(run, 'avatar');

describe('processImage', () => {
  it('re-encodes PNG, JPEG and WebP as WebP, within the bounds, never enlarged', async () => {
    for (const format of ['png', 'jpeg', 'webp'] as const) {
      const stored = await processImage(await picture(format, 64, 96), 'avatar');
      expect(stored).toMatchObject({ mime_type: 'image/webp', width: 64, height: 96 });
      expect((await sharp(stored.data).metadata()).format).toBe('webp');
    }
    const big = await processImage(await picture('png', 3000, 3000), 'avatar');
    expect({ width: big.width, height: big.height }).toEqual({ width: IMAGE_BOUNDS.width, height: IMAGE_BOUNDS.width });
    const tall = await processImage(await picture('jpeg', 1000, 4000), 'avatar');
    expect(tall.height).toBe(IMAGE_BOUNDS.height);
  });

  it("keeps pixels only: a card PNG's text chunks and an image's EXIF are gone", async () => {
    const card = await processImage(await pngCard({ v2: cardV2() }), 'avatar');
    expect(card.data.includes(Buffer.from('chara'))).toBe(false);
    const withExif = await sharp(await picture('jpeg')).withMetadata({ exif: { IFD0: { Copyright: 'secret-owner' } } }).jpeg().toBuffer();
    expect(withExif.includes(Buffer.from('secret-owner'))).toBe(true);
    const stored = await processImage(withExif, 'avatar');
    expect(stored.data.includes(Buffer.from('secret-owner'))).toBe(false);
    expect((await sharp(stored.data).metadata()).exif).toBeUndefined();
  });

  it('refuses what is not a whole PNG, JPEG or WebP, and images claiming too many pixels', async () => {
    expect((await refused(() => processImage(Buffer.from('GIF89a...'), 'avatar'))).message).toContain('must be a PNG, JPEG, WEBP image');
    const png = await picture('png');
    expect((await refused(() => processImage(png.subarray(0, png.length - 20), 'avatar'))).message).toContain('is not a valid PNG image');
    const huge = Buffer.from(png);
    huge.writeUInt32BE(60_000, 16);
    huge.writeUInt32BE(60_000, 20);
    await refused(() => processImage(huge, 'avatar'));
  });
});

describe('imageUrls', () => {
  const urls = imageUrls('https://chat.example.com', Buffer.alloc(32, 7));
  const id = '3f9c1d0e-8a1b-4c2d-9e3f-1a2b3c4d5e6f';

  it('gives open URLs for public images and signed ones, expiring within two windows, for the rest', () => {
    expect(urls.url(id, 'abc', true)).toBe(`https://chat.example.com/images/characters/${id}?v=abc`);
    const now = new Date('2026-03-01T10:20:00Z');
    const signed = new URL(urls.url(id, 'abc', false, now));
    const expires = Number(signed.searchParams.get('exp'));
    expect(expires * 1000 - now.getTime()).toBeGreaterThan(SIGNED_URL_WINDOW_SECONDS * 1000);
    expect(expires * 1000 - now.getTime()).toBeLessThanOrEqual(2 * SIGNED_URL_WINDOW_SECONDS * 1000);
    // Within a window every reader gets the same URL, so caches keep working.
    expect(urls.url(id, 'abc', false, new Date(now.getTime() + 60_000))).toBe(signed.toString());
    const sig = signed.searchParams.get('sig');
    expect(urls.verify(id, String(expires), sig, now)).toBe(true);
    expect(urls.verify(id, String(expires), sig, new Date(expires * 1000))).toBe(false); // expired
    expect(urls.verify(id, String(expires + 3600), sig, now)).toBe(false); // expiry changed
    expect(urls.verify('4f9c1d0e-8a1b-4c2d-9e3f-1a2b3c4d5e6f', String(expires), sig, now)).toBe(false); // another character
    expect(urls.verify(id, String(expires), null, now)).toBe(false);
    expect(imageUrls('https://chat.example.com', Buffer.alloc(32, 8)).verify(id, String(expires), sig, now)).toBe(false); // another key
  });
});

describe('loadImageKey', () => {
  it('takes IMAGE_URL_SECRET, else generates one key per DATA_DIR and keeps it', () => {
    expect(loadImageKey(loadConfig({ IMAGE_URL_SECRET: 'x'.repeat(32) })).toString('utf8')).toBe('x'.repeat(32));
    expect(() => loadConfig({ IMAGE_URL_SECRET: 'short' })).toThrow('IMAGE_URL_SECRET must be at least 32 characters');
    const dataDir = mkdtempSync(join(tmpdir(), 'image-key-'));
    try {
      const first = loadImageKey(loadConfig({ DATA_DIR: dataDir }));
      expect(first).toHaveLength(32);
      expect(existsSync(join(dataDir, 'keys', 'image-url-key'))).toBe(true);
      expect(loadImageKey(loadConfig({ DATA_DIR: dataDir }))).toEqual(first);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
    const memory = loadConfig({ DATA_DIR: 'memory://' });
    expect(loadImageKey(memory)).not.toEqual(loadImageKey(memory));
  });
});
