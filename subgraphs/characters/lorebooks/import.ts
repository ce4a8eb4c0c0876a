/**
 * importLorebook's file (base64 JSON), whichever of the formats books travel in: a SillyTavern
 * World Info file, a V2/V3 `character_book`, or V3's `{ spec: "lorebook_v3", data: <book> }`.
 */
import { LIMITS } from '@chat/shared/validate';
import { base64Bytes } from '../base64';
import { readCharacterBook } from '../cards/book';
import { fileError, isObject } from '../cards/shape';
import { SPEC_LOREBOOK_V3 } from '../cards/spec';
import type { LorebookFields } from './model';
import { isWorldInfo, readWorldInfo } from './world-info';

/** The name of an imported book that has none. */
export const UNNAMED_LOREBOOK = 'Imported lorebook';

/** The book a file holds, checked against its format's shape and the lorebook limits. */
export function readLorebookFile(file: string): LorebookFields {
  const bytes = base64Bytes(file, LIMITS.cardFileBytesMax, (why) => fileError('', why));
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8').replace(/^\uFEFF/, ''));
  } catch {
    throw fileError('', 'is not valid JSON');
  }
  let book: LorebookFields;
  if (isObject(json) && json.spec === SPEC_LOREBOOK_V3) book = readCharacterBook(json.data, 'data');
  else if (isWorldInfo(json)) book = readWorldInfo(json, UNNAMED_LOREBOOK);
  else if (isObject(json) && Array.isArray(json.entries)) book = readCharacterBook(json, '');
  else throw fileError('', `is not a lorebook: expected SillyTavern World Info (entries by uid), a character_book (entries as a list) or ${SPEC_LOREBOOK_V3}`);
  return { ...book, name: book.name.trim() || UNNAMED_LOREBOOK };
}
