/**
 * A character written as a card file: V2 or V3 JSON, a PNG carrying both (V2 in `chara`, V3 in
 * `ccv3`) over the character's image, or a CHARX with card.json and the image. What an import kept
 * without modelling (extensions, unknown fields, kept assets) goes back out as it came.
 */
import type { CharacterCardFormat } from '../generated/graphql';
import { defaultImage, PNG_MIME_TYPE, STORED_IMAGE, toPng } from '../images/process';
import type { LorebookFields } from '../lorebooks/model';
import type { CharacterRow } from '../tables';
import { writeCharacterBook } from './book';
import { writeCharx } from './charx';
import { writePngCards } from './png';
import { isObject } from './shape';
import {
  DEFAULT_ASSET_URI,
  EMBEDDED_ASSET_PREFIX,
  ICON_ASSET,
  SPEC_V2,
  SPEC_V3,
  SPEC_VERSION_V2,
  SPEC_VERSION_V3,
  V3_ONLY_FIELDS,
  type CardAsset,
  type CardDataV2,
  type CardV2,
  type CardV3,
} from './spec';

/** What a card is written from: the character, its embedded lorebook and its stored image. */
export interface CardSource {
  character: CharacterRow;
  lorebook: LorebookFields | null;
  image?: Buffer;
}

/** A card file ready to hand out. */
export interface CardFile {
  filename: string;
  mimeType: string;
  data: Buffer;
}

/** The file types of the formats. */
export const CARD_MIME_TYPES: Record<CharacterCardFormat, string> = {
  PNG: PNG_MIME_TYPE,
  JSON_V2: 'application/json',
  JSON_V3: 'application/json',
  CHARX: 'application/zip',
};
const EXTENSIONS: Record<CharacterCardFormat, string> = { PNG: 'png', JSON_V2: 'json', JSON_V3: 'json', CHARX: 'charx' };

/** Where a CHARX keeps the character's image. */
export const CHARX_ICON_PATH = `${ICON_ASSET.folder}${ICON_ASSET.name}.${STORED_IMAGE.extension}`;

/** Unix seconds, as V3's dates are. */
const seconds = (date: Date) => Math.floor(date.getTime() / 1000);

/** A file name from the character's name: letters, digits, dashes and underscores, never empty. */
export function cardFilename(name: string, format: CharacterCardFormat): string {
  const slug = name.normalize('NFKC').replace(/[^\p{L}\p{N}_-]+/gu, '-').replace(/^-+|-+$/g, '').slice(0, 80) || 'character';
  return `${slug}.${EXTENSIONS[format]}`;
}

/** The V2 data of a character: every V2 field, the extensions, and what an import kept (V3's own fields left out). */
function dataV2(source: CardSource): CardDataV2 {
  const { character: c, lorebook } = source;
  const extra = Object.fromEntries(Object.entries(c.card_extra).filter(([key]) => !(V3_ONLY_FIELDS as readonly string[]).includes(key)));
  return {
    ...extra,
    name: c.name,
    description: c.description,
    personality: c.personality,
    scenario: c.scenario,
    first_mes: c.greeting,
    mes_example: c.example_dialogue,
    creator_notes: c.creator_notes,
    system_prompt: c.system_prompt,
    post_history_instructions: c.post_history_instructions,
    alternate_greetings: c.alternate_greetings,
    ...(lorebook ? { character_book: writeCharacterBook(lorebook) } : {}),
    tags: c.tags,
    creator: c.creator,
    character_version: c.character_version,
    extensions: c.card_extensions,
  };
}

/** A Character Card V2. */
export function cardV2(source: CardSource): CardV2 {
  return { spec: SPEC_V2, spec_version: SPEC_VERSION_V2, data: dataV2(source) };
}

/** The assets an import kept (those whose data is in their URI). */
function keptAssets(source: CardSource): CardAsset[] {
  const assets = source.character.card_extra.assets;
  return Array.isArray(assets) ? assets.filter((asset): asset is CardAsset => isObject(asset)) : [];
}

/**
 * A Character Card V3; `icon` is the character's image as this file gives it (a PNG's own image,
 * a CHARX's file), or none: a V3 card whose assets list no icon has no image.
 */
export function cardV3(source: CardSource, icon?: CardAsset): CardV3 {
  const { character: c } = source;
  const extra = c.card_extra;
  return {
    spec: SPEC_V3,
    spec_version: SPEC_VERSION_V3,
    data: {
      ...extra,
      ...dataV2(source),
      group_only_greetings: Array.isArray(extra.group_only_greetings) ? (extra.group_only_greetings as string[]) : [],
      assets: [...(icon ? [icon] : []), ...keptAssets(source)],
      creation_date: typeof extra.creation_date === 'number' ? extra.creation_date : seconds(c.created_at),
      modification_date: seconds(c.updated_at),
    },
  };
}

const iconAsset = (uri: string, ext: string): CardAsset => ({ type: ICON_ASSET.type, uri, name: ICON_ASSET.name, ext });

/** The data of a card file of `format`. */
async function fileData(source: CardSource, format: CharacterCardFormat): Promise<Buffer> {
  switch (format) {
    case 'JSON_V2':
      return Buffer.from(JSON.stringify(cardV2(source)), 'utf8');
    case 'JSON_V3':
      return Buffer.from(JSON.stringify(cardV3(source)), 'utf8');
    case 'PNG': {
      // Without an image the PNG is a default picture, and its V3 card names no icon: imported again, the character still has none.
      const png = source.image ? await toPng(source.image) : await defaultImage(source.character.id);
      const icon = source.image ? iconAsset(DEFAULT_ASSET_URI, 'png') : undefined;
      return writePngCards(png, { v2: cardV2(source), v3: cardV3(source, icon) });
    }
    case 'CHARX': {
      const icon = source.image ? iconAsset(`${EMBEDDED_ASSET_PREFIX}${CHARX_ICON_PATH}`, STORED_IMAGE.extension) : undefined;
      return writeCharx(cardV3(source, icon), source.image ? { [CHARX_ICON_PATH]: source.image } : {});
    }
  }
}

/** The character as a card file of `format`. */
export async function encodeCard(source: CardSource, format: CharacterCardFormat): Promise<CardFile> {
  return { filename: cardFilename(source.character.name, format), mimeType: CARD_MIME_TYPES[format], data: await fileData(source, format) };
}
