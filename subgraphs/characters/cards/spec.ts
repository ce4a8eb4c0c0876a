/**
 * The public character card formats, as their specifications name them: Character Card V1 and V2
 * (malfoyslastname/character-card-spec-v2) and V3 (kwaroran/character-card-spec-v3). Only names and
 * shapes live here; parsing is parse.ts's, the files pngs.ts's and charx.ts's.
 */

/** `spec` of a V2 card and of a V3 card, and the `spec_version` each is written with. */
export const SPEC_V2 = 'chara_card_v2';
export const SPEC_V3 = 'chara_card_v3';
export const SPEC_VERSION_V2 = '2.0';
export const SPEC_VERSION_V3 = '3.0';
/** `spec` of a lorebook exported alone (V3). */
export const SPEC_LOREBOOK_V3 = 'lorebook_v3';

/** The PNG tEXt keywords a card travels under: V2 (and V1) in `chara`, V3 in `ccv3`; V3 wins when both are there. */
export const PNG_KEYWORD_V2 = 'chara';
export const PNG_KEYWORD_V3 = 'ccv3';

/** CHARX: the card at the zip's root, and its assets addressed as `embeded://<path>` (the spec's spelling). */
export const CHARX_CARD_FILE = 'card.json';
export const EMBEDDED_ASSET_PREFIX = 'embeded://';
/** An asset that means "the application's default", for an icon in a PNG card the PNG itself. */
export const DEFAULT_ASSET_URI = 'ccdefault:';
/** A PNG card's own extra assets (`chara-ext-asset_:<path>` chunks, read as `__asset:<path>`): not kept. */
export const PNG_ASSET_URI_PREFIX = '__asset:';
/** Where CHARX keeps the main icon: assets/<type>/images/, type `icon`, name `main`. */
export const ICON_ASSET = { type: 'icon', name: 'main', folder: 'assets/icon/images/' } as const;

/** The fields every card has, V1 at the top level, V2 and V3 in `data`. */
export interface CardV1 {
  name: string;
  description: string;
  personality: string;
  scenario: string;
  first_mes: string;
  mes_example: string;
}

/** One entry of a character book (V2; V3 adds use_regex and makes constant required). */
export interface CharacterBookEntry {
  keys: string[];
  content: string;
  extensions: Record<string, unknown>;
  enabled: boolean;
  insertion_order: number;
  case_sensitive?: boolean;
  use_regex?: boolean;
  constant?: boolean;
  name?: string;
  priority?: number;
  id?: number | string;
  comment?: string;
  selective?: boolean;
  secondary_keys?: string[];
  position?: CardEntryPosition;
  [unknown: string]: unknown;
}

/** Where an entry goes relative to the character's definitions. */
export type CardEntryPosition = 'before_char' | 'after_char';
export const CARD_ENTRY_POSITIONS: readonly CardEntryPosition[] = ['before_char', 'after_char'];

/** A character book (the card's embedded lorebook). */
export interface CharacterBook {
  name?: string;
  description?: string;
  scan_depth?: number;
  token_budget?: number;
  recursive_scanning?: boolean;
  extensions: Record<string, unknown>;
  entries: CharacterBookEntry[];
  [unknown: string]: unknown;
}

/** A V3 asset: what it is for, where it is, its name and file extension. */
export interface CardAsset {
  type: string;
  uri: string;
  name: string;
  ext: string;
}

/** `data` of a V2 card. */
export interface CardDataV2 extends CardV1 {
  creator_notes: string;
  system_prompt: string;
  post_history_instructions: string;
  alternate_greetings: string[];
  character_book?: CharacterBook;
  tags: string[];
  creator: string;
  character_version: string;
  extensions: Record<string, unknown>;
  [unknown: string]: unknown;
}

/** `data` of a V3 card: V2's, and what V3 adds. */
export interface CardDataV3 extends CardDataV2 {
  assets?: CardAsset[];
  nickname?: string;
  creator_notes_multilingual?: Record<string, string>;
  source?: string[];
  group_only_greetings: string[];
  creation_date?: number;
  modification_date?: number;
}

export interface CardV2 {
  spec: typeof SPEC_V2;
  spec_version: string;
  data: CardDataV2;
}

export interface CardV3 {
  spec: typeof SPEC_V3;
  spec_version: string;
  data: CardDataV3;
}

/** The `data` fields V3 adds to V2 (a V2 export leaves them out). */
export const V3_ONLY_FIELDS = ['assets', 'nickname', 'creator_notes_multilingual', 'source', 'group_only_greetings', 'creation_date', 'modification_date'] as const;
