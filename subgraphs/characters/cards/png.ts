/**
 * Cards inside PNG images: the card's JSON, UTF-8 then base64, in a `tEXt` chunk (`chara` for V2,
 * `ccv3` for V3). Chunks are read with png-chunks-extract (which checks the signature, the order and
 * every chunk's CRC) and written with png-chunks-encode and png-chunk-text.
 */
import extractChunks from 'png-chunks-extract';
import encodeChunks from 'png-chunks-encode';
import pngText from 'png-chunk-text';
import { decodeBase64 } from '../base64';
import { fileError } from './shape';
import { PNG_KEYWORD_V2, PNG_KEYWORD_V3 } from './spec';

/** The chunk type of Latin-1 text, and the chunk every PNG ends with. */
const TEXT_CHUNK = 'tEXt';
const END_CHUNK = 'IEND';

/** The card texts a PNG carries, by keyword (lower-cased: V1 tools wrote `Chara`). */
export interface PngCardTexts {
  v2?: string;
  v3?: string;
}

/**
 * Whether every chunk's declared length fits in the file, walked without reading any chunk: the
 * extractor allocates and copies what a length says, which a few forged bytes could make gigabytes.
 */
function chunksFit(png: Uint8Array): boolean {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  for (let at = 8; at + 8 <= png.length; ) {
    const length = view.getUint32(at);
    const end = at + 12 + length;
    if (end > png.length) return false;
    if (String.fromCharCode(png[at + 4], png[at + 5], png[at + 6], png[at + 7]) === END_CHUNK) return true;
    at = end;
  }
  return true; // too short for another chunk: the extractor says what is missing
}

/** The chunks of a PNG, or a refusal saying it is not a whole, valid PNG. */
function chunksOf(png: Uint8Array): Array<{ name: string; data: Uint8Array }> {
  if (!chunksFit(png)) throw fileError('', 'is not a valid PNG (it is truncated: a chunk runs past its end)');
  try {
    return extractChunks(png);
  } catch (error) {
    throw fileError('', `is not a valid PNG (${error instanceof Error ? error.message : 'unreadable'})`);
  }
}

/** The JSON text of a card chunk: base64 of UTF-8, as the specs write it. */
function chunkJson(keyword: string, base64: string, maxBytes: number): string {
  const bytes = decodeBase64(base64, maxBytes);
  if (typeof bytes === 'string') throw fileError(`PNG ${keyword} chunk`, bytes === 'too large' ? 'is too large' : 'is not base64');
  return bytes.toString('utf8');
}

/**
 * The card JSON texts in a PNG's tEXt chunks: V2's (`chara`) and V3's (`ccv3`), each decoded from
 * base64; a refusal when the PNG is broken or a card chunk is not base64.
 */
export function readPngCards(png: Uint8Array, maxBytes: number): PngCardTexts {
  const texts: PngCardTexts = {};
  for (const chunk of chunksOf(png)) {
    if (chunk.name !== TEXT_CHUNK) continue;
    let keyword: string;
    let text: string;
    try {
      ({ keyword, text } = pngText.decode(chunk.data));
    } catch {
      continue; // a malformed text chunk that is not a card's is none of our business
    }
    const key = keyword.toLowerCase();
    if (key === PNG_KEYWORD_V2 && texts.v2 === undefined) texts.v2 = chunkJson(PNG_KEYWORD_V2, text, maxBytes);
    else if (key === PNG_KEYWORD_V3 && texts.v3 === undefined) texts.v3 = chunkJson(PNG_KEYWORD_V3, text, maxBytes);
  }
  return texts;
}

/** The chunk text of a card: its JSON, UTF-8 then base64 (tEXt holds Latin-1 only). */
const cardText = (card: unknown) => Buffer.from(JSON.stringify(card), 'utf8').toString('base64');

/**
 * `png` with the cards in tEXt chunks before its end: V2 under `chara`, V3 under `ccv3`, replacing
 * any card chunks it had.
 */
export function writePngCards(png: Uint8Array, cards: { v2: unknown; v3: unknown }): Buffer {
  const kept = chunksOf(png).filter((chunk) => {
    if (chunk.name !== TEXT_CHUNK) return true;
    const key = pngText.decode(chunk.data).keyword.toLowerCase();
    return key !== PNG_KEYWORD_V2 && key !== PNG_KEYWORD_V3;
  });
  const end = kept.findIndex((chunk) => chunk.name === END_CHUNK);
  const cardChunks = [pngText.encode(PNG_KEYWORD_V2, cardText(cards.v2)), pngText.encode(PNG_KEYWORD_V3, cardText(cards.v3))];
  kept.splice(end < 0 ? kept.length : end, 0, ...cardChunks);
  return Buffer.from(encodeChunks(kept));
}
