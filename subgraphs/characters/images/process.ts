/**
 * Every image that arrives (an avatar, a card's picture) is decoded and encoded anew with sharp: what
 * is stored is pixels only, no metadata, no extra chunks (a card PNG's text included), within
 * IMAGE_BOUNDS, as WebP. Anything sharp cannot decode as a PNG, JPEG or WebP is refused.
 */
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { badInput } from '@chat/shared/errors';

/** The largest stored image: a portrait card's usual 2:3, at most this wide and high (never enlarged). */
export const IMAGE_BOUNDS = { width: 1024, height: 1536 } as const;
/** Pixels an arriving image may declare: refused before decoding beyond it (a small file can claim a huge image). */
export const IMAGE_INPUT_PIXELS_MAX = 40_000_000;
/** How images are stored and served. */
export const STORED_IMAGE = { format: 'webp', mimeType: 'image/webp', extension: 'webp', quality: 90 } as const;
export const PNG_MIME_TYPE = 'image/png';

/** The formats accepted, by their leading bytes. */
const SIGNATURES: Array<{ format: 'png' | 'jpeg' | 'webp'; matches: (b: Buffer) => boolean }> = [
  { format: 'png', matches: (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) },
  { format: 'jpeg', matches: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  { format: 'webp', matches: (b) => b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP' },
];

/** An image as stored: its bytes, type, size and ETag (a hash of the bytes). */
export interface StoredImage {
  data: Buffer;
  mime_type: string;
  width: number;
  height: number;
  etag: string;
}

/** The ETag of stored bytes: part of their SHA-256, enough to tell versions apart. */
export const etagOf = (data: Buffer): string => createHash('sha256').update(data).digest('base64url').slice(0, 22);

/** Which accepted format `bytes` start like, if any. */
export function sniffImage(bytes: Buffer): 'png' | 'jpeg' | 'webp' | undefined {
  return SIGNATURES.find((s) => s.matches(bytes))?.format;
}

/**
 * Decodes `bytes` (a PNG, JPEG or WebP, its first frame when animated), turns it upright by its
 * EXIF orientation, fits it within IMAGE_BOUNDS and encodes it as WebP, metadata dropped.
 * Anything else, or anything that does not decode, is BAD_USER_INPUT on `field`.
 */
export async function processImage(bytes: Buffer, field: string, accept: ReadonlyArray<'png' | 'jpeg' | 'webp'> = ['png', 'jpeg', 'webp']): Promise<StoredImage> {
  const format = sniffImage(bytes);
  const names = accept.map((f) => f.toUpperCase()).join(', ');
  if (!format || !accept.includes(format)) throw badInput(field, `must be a ${names} image`);
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: IMAGE_INPUT_PIXELS_MAX, failOn: 'error' })
      .rotate()
      .resize({ width: IMAGE_BOUNDS.width, height: IMAGE_BOUNDS.height, fit: 'inside', withoutEnlargement: true })
      .webp({ quality: STORED_IMAGE.quality })
      .toBuffer({ resolveWithObject: true });
    return { data, mime_type: STORED_IMAGE.mimeType, width: info.width, height: info.height, etag: etagOf(data) };
  } catch {
    throw badInput(field, `is not a valid ${format.toUpperCase()} image (or it is larger than ${IMAGE_INPUT_PIXELS_MAX} pixels)`);
  }
}

/** A stored image as PNG (a PNG card's picture). */
export function toPng(data: Buffer): Promise<Buffer> {
  return sharp(data).png().toBuffer();
}

/** The size of the image a character without one is exported with. */
export const DEFAULT_IMAGE_SIZE = { width: 400, height: 600 } as const;

/**
 * The picture of a character without an image, as PNG: a plain silhouette on a background whose
 * hue comes from `seed` (the character's id), so each character keeps its own, no text, no fonts.
 */
export function defaultImage(seed: string): Promise<Buffer> {
  const hue = createHash('sha256').update(seed).digest().readUInt16BE(0) % 360;
  const { width, height } = DEFAULT_IMAGE_SIZE;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
  <defs><linearGradient id="g" x1="0" y1="0" x2="0" y2="1">
    <stop offset="0" stop-color="hsl(${hue},45%,62%)"/><stop offset="1" stop-color="hsl(${(hue + 40) % 360},50%,32%)"/>
  </linearGradient></defs>
  <rect width="100%" height="100%" fill="url(#g)"/>
  <circle cx="${width / 2}" cy="${height * 0.38}" r="${width * 0.2}" fill="hsla(0,0%,100%,0.78)"/>
  <ellipse cx="${width / 2}" cy="${height * 0.9}" rx="${width * 0.36}" ry="${height * 0.26}" fill="hsla(0,0%,100%,0.78)"/>
</svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}
