/**
 * A card file, whichever its kind: a PNG with the card in its text chunks (V3's `ccv3` preferred
 * over V2's `chara`), a CHARX zip, or the card's JSON; with the image that comes with it, if any.
 */
import { decodeBase64 } from '../base64';
import { sniffImage } from '../images/process';
import { isZip, readCharxCard, readZipFile } from './charx';
import { parseCardText, type ParsedCard } from './parse';
import { readPngCards } from './png';
import { fileError } from './shape';
import { PNG_KEYWORD_V2, PNG_KEYWORD_V3 } from './spec';

/** The kinds of card file, as told by their first bytes. */
export type CardFileKind = 'png' | 'charx' | 'json';

/** A card file, read: the card, its image's bytes (still to be checked and re-encoded), and what kind of file it was. */
export interface DecodedCard {
  kind: CardFileKind;
  card: ParsedCard;
  image?: Uint8Array;
}

/** Which kind of card file `bytes` is, or a refusal. */
function kindOf(bytes: Uint8Array): CardFileKind {
  if (sniffImage(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) === 'png') return 'png';
  if (isZip(bytes)) return 'charx';
  const start = Buffer.from(bytes.subarray(0, 64)).toString('utf8').replace(/^\uFEFF/, '').trimStart();
  if (start.startsWith('{')) return 'json';
  throw fileError('', 'is not a character card: expected a PNG, a JSON card or a CHARX zip');
}

/** A data: URI icon's bytes (size-checked), or a refusal. */
function dataIcon(base64: string, maxBytes: number): Uint8Array {
  const bytes = decodeBase64(base64, maxBytes);
  if (typeof bytes === 'string') throw fileError('data.assets', `the icon's data: URI ${bytes === 'too large' ? 'is too large' : 'is not base64'}`);
  return bytes;
}

/**
 * Reads a card file of at most `maxBytes`. The card's image: for a PNG, the PNG itself (unless a
 * V3 card's assets name no icon, or another one); for a CHARX, the icon asset it embeds; for any,
 * an icon given as a data: URI.
 */
export function decodeCardFile(bytes: Uint8Array, maxBytes: number): DecodedCard {
  const kind = kindOf(bytes);
  if (kind === 'png') {
    const texts = readPngCards(bytes, maxBytes);
    const text = texts.v3 ?? texts.v2;
    if (text === undefined) throw fileError('', `is a PNG without a character card (no ${PNG_KEYWORD_V2} or ${PNG_KEYWORD_V3} text chunk)`);
    const card = parseCardText(text);
    const image = card.icon.kind === 'container' ? bytes : card.icon.kind === 'data' ? dataIcon(card.icon.base64, maxBytes) : undefined;
    return { kind, card, image };
  }
  if (kind === 'charx') {
    const card = parseCardText(readCharxCard(bytes, maxBytes));
    let image: Uint8Array | undefined;
    if (card.icon.kind === 'embedded') {
      image = readZipFile(bytes, card.icon.path, maxBytes);
      if (!image) throw fileError('data.assets', `the icon embeded://${card.icon.path} is not in the zip`);
    } else if (card.icon.kind === 'data') {
      image = dataIcon(card.icon.base64, maxBytes);
    }
    return { kind, card, image };
  }
  const card = parseCardText(Buffer.from(bytes).toString('utf8'));
  return { kind, card, image: card.icon.kind === 'data' ? dataIcon(card.icon.base64, maxBytes) : undefined };
}
