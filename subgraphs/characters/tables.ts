/**
 * The characters subgraph's tables, as rows: characters and who talks with them (store.ts), their
 * images (images/store.ts) and lorebooks (lorebooks/store.ts). Types only, so every store module can
 * name every table without importing another.
 */
import type { LorebookFields } from './lorebooks/model';

/** JSON kept as it came (a card's extensions and the fields we do not model). */
export type JsonObject = Record<string, unknown>;

/** A character as stored. */
export interface CharacterRow {
  id: string;
  owner_id: string;
  name: string;
  description: string;
  personality: string;
  scenario: string;
  greeting: string;
  example_dialogue: string;
  system_prompt: string;
  tags: string[];
  visibility: 'PUBLIC' | 'PRIVATE';
  alternate_greetings: string[];
  post_history_instructions: string;
  creator_notes: string;
  creator: string;
  character_version: string;
  /** The card's `data.extensions`, unknown keys and all (empty for a character made here). */
  card_extensions: JsonObject;
  /** The rest of an imported card's `data` that no column models (V3's nickname, source, dates, kept assets...). */
  card_extra: JsonObject;
  /** The stored image's ETag (its content hash); null without an image. */
  image_etag: string | null;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
}

/**
 * A user who talks with a character: recorded as their conversation with it starts, so that the
 * character stays visible to them in their conversations should its owner make it private.
 */
export interface AudienceRow {
  character_id: string;
  user_id: string;
  since: Date;
}

/** A character's image, re-encoded on arrival (images/process.ts). */
export interface ImageRow {
  character_id: string;
  data: Buffer;
  mime_type: string;
  width: number;
  height: number;
  etag: string;
  created_at: Date;
}

/** A lorebook: one of a user's own, or the one a character's card embeds (character_id). */
export interface LorebookRow extends LorebookFields {
  id: string;
  owner_id: string;
  character_id: string | null;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
}

/** The characters subgraph's tables. */
export interface CharactersTables {
  characters: CharacterRow;
  character_audience: AudienceRow;
  character_images: ImageRow;
  lorebooks: LorebookRow;
}
