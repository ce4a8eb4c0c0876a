/**
 * A card's JSON (V1, V2 or V3) checked against its specification's shape and read into what a
 * character is made of. Only the shape is checked here; the character's own limits are checked
 * where every character's are (fields.ts), naming the card's paths through `paths`.
 */
import type { CharacterInput } from '../generated/graphql';
import type { LorebookFields } from '../lorebooks/model';
import { readCharacterBook } from './book';
import { isObject, fileError, object, optionalString, record, rest, storableObject, string, strings, type JsonObject } from './shape';
import { DEFAULT_ASSET_URI, EMBEDDED_ASSET_PREFIX, ICON_ASSET, SPEC_V2, SPEC_V3, type CardAsset } from './spec';

/** The character fields a card gives, in CharacterInput's names. */
export type CardCharacter = { [K in Exclude<keyof CharacterInput, 'visibility' | 'avatar'>]-?: NonNullable<CharacterInput[K]> };

/** Each CharacterInput field a card gives, and the card field it comes from (V2 and V3 keep them in `data`). */
export const CARD_FIELDS = {
  name: 'name',
  description: 'description',
  personality: 'personality',
  scenario: 'scenario',
  greeting: 'first_mes',
  exampleDialogue: 'mes_example',
  systemPrompt: 'system_prompt',
  postHistoryInstructions: 'post_history_instructions',
  alternateGreetings: 'alternate_greetings',
  creatorNotes: 'creator_notes',
  creator: 'creator',
  characterVersion: 'character_version',
  tags: 'tags',
} as const satisfies Record<keyof CardCharacter, string>;

/** The fields of a V1 card. */
const V1_FIELDS = ['name', 'description', 'personality', 'scenario', 'first_mes', 'mes_example'] as const;
/** The `data` fields a character models (besides CARD_FIELDS' own); the rest of `data` is kept as it came. */
const MODELLED_DATA_FIELDS = [...Object.values(CARD_FIELDS), 'extensions', 'character_book', 'assets'];

/** Where a card's image comes from: the PNG it came in, a file of its CHARX, bytes in a data: URI, or nowhere. */
export type CardIcon = { kind: 'container' } | { kind: 'embedded'; path: string } | { kind: 'data'; base64: string } | { kind: 'none' };

/** A card, read. */
export interface ParsedCard {
  /** The spec it followed. */
  version: 1 | 2 | 3;
  character: CardCharacter;
  /** Where each character field sits in the file, for refusals (`data.first_mes`). */
  paths: Record<keyof CardCharacter, string>;
  /** `data.extensions`, unknown keys and all. */
  extensions: JsonObject;
  /** The rest of `data`, kept for the export: V3's nickname, source, dates..., the assets we keep, keys no spec names. */
  extra: JsonObject;
  lorebook: LorebookFields | null;
  icon: CardIcon;
}

/** A V3 asset list checked against the spec's shape. */
function assets(value: unknown, path: string): CardAsset[] {
  if (!Array.isArray(value)) throw fileError(path, 'must be an array');
  return value.map((item, i) => {
    const asset = object(item, `${path}[${i}]`);
    const at = `${path}[${i}]`;
    return { ...asset, type: string(asset, 'type', at), uri: string(asset, 'uri', at), name: string(asset, 'name', at, ''), ext: string(asset, 'ext', at, '') };
  });
}

const DATA_URI = /^data:image\/[a-z0-9.+-]+;base64,(.*)$/is;

/**
 * The card's main icon (V3: the `icon` asset named `main`, else the first icon; no assets at all
 * means "the default", for a PNG the PNG itself), and the assets kept for the export: those whose
 * data travels in their URI (http(s), data:). Embedded ones other than the icon are not kept.
 */
function iconAndAssets(list: CardAsset[] | undefined): { icon: CardIcon; kept: CardAsset[] } {
  if (list === undefined) return { icon: { kind: 'container' }, kept: [] };
  const icons = list.filter((asset) => asset.type === ICON_ASSET.type);
  const main = icons.find((asset) => asset.name === ICON_ASSET.name) ?? icons[0];
  let icon: CardIcon = { kind: 'none' };
  if (main?.uri === DEFAULT_ASSET_URI) icon = { kind: 'container' };
  else if (main?.uri.startsWith(EMBEDDED_ASSET_PREFIX)) icon = { kind: 'embedded', path: main.uri.slice(EMBEDDED_ASSET_PREFIX.length) };
  else if (main && DATA_URI.test(main.uri)) icon = { kind: 'data', base64: DATA_URI.exec(main.uri)![1] };
  const taken = icon.kind === 'none' ? undefined : main;
  const kept = list.filter((asset) => asset !== taken && /^(https?:|data:)/i.test(asset.uri));
  return { icon, kept };
}

/** V2's and V3's `data`. */
function readData(card: JsonObject, version: 2 | 3): ParsedCard {
  const data = object(card.data, 'data');
  const path = 'data';
  const character = readCharacter(data, path);
  const bookValue = data.character_book;
  const lorebook = bookValue == null ? null : readCharacterBook(bookValue, `${path}.character_book`);
  const listed = version === 3 && data.assets != null ? assets(data.assets, `${path}.assets`) : undefined;
  if (version === 3) {
    // V3's own fields, checked for their shape and kept.
    strings(data, 'group_only_greetings', path, []);
    if (data.source != null) strings(data, 'source', path);
    optionalString(data, 'nickname', path);
    if (data.creator_notes_multilingual != null) {
      const notes = object(data.creator_notes_multilingual, `${path}.creator_notes_multilingual`);
      for (const key of Object.keys(notes)) string(notes, key, `${path}.creator_notes_multilingual`);
    }
    for (const key of ['creation_date', 'modification_date']) {
      if (data[key] != null && (typeof data[key] !== 'number' || !Number.isFinite(data[key]))) throw fileError(`${path}.${key}`, 'must be a number');
    }
  }
  const { icon, kept } = version === 3 ? iconAndAssets(listed) : { icon: { kind: 'container' } as CardIcon, kept: [] };
  const extra = storableObject(rest(data, MODELLED_DATA_FIELDS), path);
  if (kept.length > 0) extra.assets = storableObject({ assets: kept }, path).assets;
  return {
    version,
    character,
    paths: pathsUnder('data.'),
    extensions: storableObject(record(data, 'extensions', path), `${path}.extensions`),
    extra,
    lorebook,
    icon,
  };
}

/** The character fields of a card (its top level for V1, `data` for V2 and V3); missing strings are empty. */
function readCharacter(fields: JsonObject, path: string): CardCharacter {
  const text = (key: string) => string(fields, key, path, '');
  return {
    name: string(fields, 'name', path),
    description: text(CARD_FIELDS.description),
    personality: text(CARD_FIELDS.personality),
    scenario: text(CARD_FIELDS.scenario),
    greeting: text(CARD_FIELDS.greeting),
    exampleDialogue: text(CARD_FIELDS.exampleDialogue),
    systemPrompt: text(CARD_FIELDS.systemPrompt),
    postHistoryInstructions: text(CARD_FIELDS.postHistoryInstructions),
    alternateGreetings: strings(fields, CARD_FIELDS.alternateGreetings, path, []),
    creatorNotes: text(CARD_FIELDS.creatorNotes),
    creator: text(CARD_FIELDS.creator),
    characterVersion: text(CARD_FIELDS.characterVersion),
    tags: strings(fields, CARD_FIELDS.tags, path, []),
  };
}

const pathsUnder = (prefix: string) =>
  Object.fromEntries(Object.entries(CARD_FIELDS).map(([field, key]) => [field, `${prefix}${key}`])) as Record<keyof CardCharacter, string>;

/**
 * A card's JSON, whichever version: `spec` says V2 or V3; a card without `spec` is V1 (its fields
 * at the top level). Any other `spec` is refused, as is anything that is not a card's shape.
 */
export function parseCard(json: unknown): ParsedCard {
  if (!isObject(json)) throw fileError('', 'a card must be a JSON object');
  if (json.spec === SPEC_V3) return readData(json, 3);
  if (json.spec === SPEC_V2) return readData(json, 2);
  if (json.spec != null) throw fileError('spec', `must be ${SPEC_V2} or ${SPEC_V3} (V1 cards have none)`);
  if (typeof json.name !== 'string') throw fileError('name', 'is required (a V1 card has name, description, personality, scenario, first_mes and mes_example)');
  return {
    version: 1,
    character: readCharacter(json, ''),
    paths: pathsUnder(''),
    extensions: {},
    extra: storableObject(rest(json, V1_FIELDS), ''),
    lorebook: null,
    icon: { kind: 'container' },
  };
}

/** The JSON text of a card file, parsed; a refusal when it is not JSON. */
export function parseCardText(text: string): ParsedCard {
  let json: unknown;
  try {
    json = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch {
    throw fileError('', 'is not valid JSON');
  }
  return parseCard(json);
}
