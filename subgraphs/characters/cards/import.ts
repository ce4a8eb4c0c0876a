/**
 * importCharacter: a card file (base64) becomes a character of the caller's, with the card's image
 * (re-encoded) and its embedded lorebook, stored in one transaction once everything is checked.
 */
import { GraphQLError } from 'graphql';
import { ErrorCode } from '@chat/shared/errors';
import { LIMITS } from '@chat/shared/validate';
import { base64Bytes } from '../base64';
import { newFields } from '../fields';
import type { Visibility } from '../generated/graphql';
import { processImage, type StoredImage } from '../images/process';
import type { CharacterAttachments, CharacterFields } from '../store';
import { decodeCardFile } from './decode';
import { FILE_FIELD, fileError } from './shape';

/** `check()`, with its BAD_USER_INPUT refusals moved onto the file (`file: data.first_mes: must be at most...`). */
function aboutTheFile<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof GraphQLError && error.extensions.code === ErrorCode.BAD_USER_INPUT && error.extensions.field !== FILE_FIELD) throw fileError('', error.message);
    throw error;
  }
}

/** A card file read and checked: the character's fields, its image and its lorebook, ready to store. */
export interface ImportedCard {
  fields: CharacterFields;
  attachments: CharacterAttachments;
}

/** Reads a card file (base64 of at most LIMITS.cardFileBytesMax) into what a character is stored as; refuses anything off the specs or over the limits. */
export async function readCardImport(file: string, visibility: Visibility | null | undefined): Promise<ImportedCard> {
  const bytes = base64Bytes(file, LIMITS.cardFileBytesMax, (why) => fileError('', why));
  const { card, image } = decodeCardFile(bytes, LIMITS.cardFileBytesMax);
  const fields = aboutTheFile(() => newFields({ ...card.character, visibility }, card.paths));
  let stored: StoredImage | undefined;
  if (image) stored = await processImage(Buffer.from(image.buffer, image.byteOffset, image.byteLength), FILE_FIELD);
  return {
    fields: { ...fields, card_extensions: card.extensions, card_extra: card.extra },
    attachments: { image: stored, lorebook: card.lorebook },
  };
}
