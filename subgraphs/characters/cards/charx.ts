/**
 * CHARX (V3): a zip with the card as `card.json` at its root and its assets beside it, addressed
 * from the card as `embeded://<path>`. Read and written with fflate; only the files needed are
 * inflated, each after its declared size is checked, so a small zip cannot unpack into gigabytes.
 */
import { strFromU8, strToU8, unzipSync, zipSync, type Unzipped } from 'fflate';
import { GraphQLError } from 'graphql';
import { fileError } from './shape';
import { CHARX_CARD_FILE } from './spec';

/** A zip's leading bytes (a local file header). */
export const ZIP_SIGNATURE = [0x50, 0x4b, 0x03, 0x04] as const;

/** Whether `bytes` start like a zip. */
export const isZip = (bytes: Uint8Array): boolean => ZIP_SIGNATURE.every((b, i) => bytes[i] === b);

/** The named file of a zip, inflated if it is no larger than `maxBytes`; undefined when the zip has no such file. */
export function readZipFile(zip: Uint8Array, path: string, maxBytes: number): Uint8Array | undefined {
  const wanted = path.replace(/^\/+/, '');
  let unzipped: Unzipped;
  try {
    unzipped = unzipSync(zip, {
      filter: (file) => {
        if (file.name !== wanted) return false;
        if (file.originalSize > maxBytes) throw fileError(wanted, `is larger than ${maxBytes} bytes unpacked`);
        return true;
      },
    });
  } catch (error) {
    if (error instanceof GraphQLError) throw error;
    throw fileError('', `is not a valid CHARX zip (${error instanceof Error ? error.message : 'unreadable'})`);
  }
  return unzipped[wanted];
}

/** The card.json of a CHARX, as text; a refusal when there is none. */
export function readCharxCard(zip: Uint8Array, maxBytes: number): string {
  const card = readZipFile(zip, CHARX_CARD_FILE, maxBytes);
  if (!card) throw fileError('', `is a zip without ${CHARX_CARD_FILE} at its root, so no CHARX card`);
  return strFromU8(card);
}

/** A CHARX: the card as card.json, and each asset at its path (stored, not deflated: images are compressed already). */
export function writeCharx(card: unknown, assets: Record<string, Uint8Array>): Buffer {
  const files: Record<string, Uint8Array | [Uint8Array, { level: 0 }]> = { [CHARX_CARD_FILE]: strToU8(JSON.stringify(card)) };
  for (const [path, data] of Object.entries(assets)) files[path] = [data, { level: 0 }];
  return Buffer.from(zipSync(files));
}
