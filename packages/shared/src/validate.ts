import { badInput } from './errors';

/** Input limits from the reference documents (seeds), in one place. */
export const LIMITS = {
  nameMax: 200,
  titleMax: 200,
  tagsMax: 10,
  tagMax: 50,
  passwordMin: 10,
  passwordMax: 200,
  emailMax: 254,
  displayNameMax: 100,
  /** description, personality, scenario, greeting */
  personaFieldMax: 10_000,
  /** example dialogue and system prompt */
  longPersonaFieldMax: 20_000,
  messageMax: 50_000,
  /** A character's creator (a name or handle) and its card's version string. */
  creatorMax: 200,
  characterVersionMax: 100,
  /** Creator notes: shown to users, never put in prompts; cards often carry long ones. */
  creatorNotesMax: 20_000,
  /** Alternate greetings a character (or an imported card) may have, each at most personaFieldMax. */
  alternateGreetingsMax: 200,
  /** Entries of one lorebook, the keys of one entry and each key's length, an entry's comment. */
  lorebookEntriesMax: 1_000,
  lorebookKeysMax: 100,
  lorebookKeyMax: 200,
  lorebookCommentMax: 2_000,
  /** How far back a lorebook scans (messages) and how many tokens its entries may take. */
  lorebookScanDepthMax: 1_000,
  lorebookTokenBudgetMax: 1_000_000,
  /** Personas a user may have; a persona's description is a persona field. */
  personasMax: 100,
  /** Lorebooks one conversation may use besides its character's own. */
  conversationLorebooksMax: 20,
  /** An imported card file (PNG, JSON or CHARX) and an uploaded image, in bytes before base64. */
  cardFileBytesMax: 10 * 1024 * 1024,
} as const;

// Control characters other than tab and newline; everything else a user sends is kept as sent.
const CONTROL_CHARS = /[\u0000-\u0008\u000B-\u001F\u007F]/g;
// A pragmatic well-formedness check (one @, a dotted domain, no spaces or control characters), as
// registration forms use. A NUL would otherwise reach PostgreSQL, which refuses it in text.
const EMAIL = /^[^\s@\u0000-\u001F\u007F]+@[^\s@.\u0000-\u001F\u007F]+(\.[^\s@.\u0000-\u001F\u007F]+)+$/;

/** The text without control characters (newline and tab stay). */
export function stripControl(value: string): string {
  return value.replace(CONTROL_CHARS, '');
}

/** Control characters removed, then the length checked; BAD_USER_INPUT names the field. */
export function text(field: string, value: string, { min = 0, max }: { min?: number; max: number }): string {
  const cleaned = stripControl(value);
  const length = [...cleaned].length;
  if (min > 0 && cleaned.trim().length === 0) throw badInput(field, 'must not be empty');
  if (length < min) throw badInput(field, `must be at least ${min} characters`);
  if (length > max) throw badInput(field, `must be at most ${max} characters (got ${length})`);
  return cleaned;
}

/** Like `text`, for optional fields: undefined and null stay undefined. */
export function optionalText(field: string, value: string | null | undefined, limits: { min?: number; max: number }): string | undefined {
  return value == null ? undefined : text(field, value, limits);
}

/** At most LIMITS.tagsMax tags, each 1..LIMITS.tagMax characters, trimmed, duplicates dropped. */
export function tags(field: string, value: string[] | null | undefined): string[] | undefined {
  if (value == null) return undefined;
  if (value.length > LIMITS.tagsMax) throw badInput(field, `at most ${LIMITS.tagsMax} tags (got ${value.length})`);
  const cleaned = value.map((tag) => text(field, tag, { min: 1, max: LIMITS.tagMax }).trim());
  return [...new Set(cleaned)];
}

/** A well-formed email, lower-cased. */
export function email(field: string, value: string): string {
  const cleaned = value.trim().toLowerCase();
  if (cleaned.length > LIMITS.emailMax || !EMAIL.test(cleaned)) throw badInput(field, 'must be a well-formed email address');
  return cleaned;
}

/** The bounds of PostgreSQL's `integer` (int4): a whole number outside them never reaches a query. */
export const INT4 = { min: -2_147_483_648, max: 2_147_483_647 } as const;

/** A whole number within bounds (by default, any int4); BAD_USER_INPUT names the field. */
export function wholeNumber(field: string, value: number, min: number = INT4.min, max: number = INT4.max): number {
  if (!Number.isInteger(value) || value < min || value > max) throw badInput(field, `must be a whole number between ${min} and ${max}`);
  return value;
}

/** A number within bounds. */
export function numberIn(field: string, value: number, min: number, max: number): number {
  if (!Number.isFinite(value) || value < min || value > max) throw badInput(field, `must be between ${min} and ${max}`);
  return value;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Ids are UUIDs; anything else cannot match a row (and must never reach a uuid column). */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}
