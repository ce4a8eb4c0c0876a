/**
 * A lorebook as the characters subgraph keeps it, whichever way it came: a card's `character_book`,
 * a SillyTavern World Info file, or LorebookInput. One check of its limits serves them all.
 */
import { randomUUID } from 'node:crypto';
import type { GraphQLError } from 'graphql';
import { LIMITS, stripControl } from '@chat/shared/validate';
import type { CardEntryPosition } from '../cards/spec';

/** One entry, in the character book's own terms (the card spec's names), with an id of ours. */
export interface LorebookEntryRecord {
  id: string;
  keys: string[];
  secondary_keys: string[];
  selective: boolean;
  constant: boolean;
  enabled: boolean;
  case_sensitive: boolean;
  /** V3: the keys are regular expressions. */
  use_regex: boolean;
  insertion_order: number;
  priority: number;
  position: CardEntryPosition;
  content: string;
  comment: string;
  /** The entry's extensions, unknown keys included, exported as they came. */
  extensions: Record<string, unknown>;
  /** What a card's entry carries that no field here models (its `name`, its `id`, keys no spec names): exported back as it came. */
  extra: Record<string, unknown>;
}

/** A lorebook's content: everything but who owns it and when. */
export interface LorebookFields {
  name: string;
  description: string;
  /** null when the book did not say: the default applies (LOREBOOK_DEFAULTS), and an export leaves the field out. */
  scan_depth: number | null;
  token_budget: number | null;
  recursive_scanning: boolean | null;
  extensions: Record<string, unknown>;
  /** Keys of an imported book no spec names, exported back as they came. */
  extra: Record<string, unknown>;
  entries: LorebookEntryRecord[];
}

/**
 * What a book or an entry that does not say means (the specs leave these to the application):
 * SillyTavern's default scan depth of 2 messages, a budget of 2048 tokens, no recursion; an entry's
 * priority between the lowest and highest anyone would give, so unset entries rank in the middle.
 */
export const LOREBOOK_DEFAULTS = {
  scanDepth: 2,
  tokenBudget: 2048,
  recursiveScanning: false,
  entryPriority: 10,
  entryInsertionOrder: 100,
} as const;

/** An entry's fields with the defaults of a minimal entry (keys and content given), and a new id. */
export function newEntry(fields: Partial<LorebookEntryRecord> & Pick<LorebookEntryRecord, 'keys' | 'content'>): LorebookEntryRecord {
  return {
    id: randomUUID(),
    secondary_keys: [],
    selective: false,
    constant: false,
    enabled: true,
    case_sensitive: false,
    use_regex: false,
    insertion_order: LOREBOOK_DEFAULTS.entryInsertionOrder,
    priority: LOREBOOK_DEFAULTS.entryPriority,
    position: 'before_char',
    comment: '',
    extensions: {},
    extra: {},
    ...fields,
  };
}

/** Where a refusal points: the field at fault, in the caller's terms (an input path, or the imported file). */
export type Refuse = (path: string, why: string) => GraphQLError;

/** The names a caller gives a book's fields in its refusals (LorebookInput's camelCase, or a card's snake_case). */
export interface FieldNames {
  name: string;
  description: string;
  scanDepth: string;
  tokenBudget: string;
  entries: string;
  keys: string;
  secondaryKeys: string;
  content: string;
  comment: string;
}

/** The card spec's names (character_book), for refusals about an imported book. */
export const CARD_FIELD_NAMES: FieldNames = {
  name: 'name',
  description: 'description',
  scanDepth: 'scan_depth',
  tokenBudget: 'token_budget',
  entries: 'entries',
  keys: 'keys',
  secondaryKeys: 'secondary_keys',
  content: 'content',
  comment: 'comment',
};

/** Control characters out, then the length checked, refused through `refuse`. */
function bounded(refuse: Refuse, path: string, value: string, max: number): string {
  const cleaned = stripControl(value);
  const length = [...cleaned].length;
  if (length > max) throw refuse(path, `must be at most ${max} characters (got ${length})`);
  return cleaned;
}

function keyList(refuse: Refuse, path: string, keys: string[]): string[] {
  if (keys.length > LIMITS.lorebookKeysMax) throw refuse(path, `at most ${LIMITS.lorebookKeysMax} keys (got ${keys.length})`);
  return keys.map((key, i) => bounded(refuse, `${path}[${i}]`, key, LIMITS.lorebookKeyMax));
}

function within(refuse: Refuse, path: string, value: number | null, max: number): number | null {
  if (value !== null && (value < 0 || value > max)) throw refuse(path, `must be between 0 and ${max}`);
  return value;
}

/** At most LIMITS.lorebookEntriesMax entries: checked before a long list is read at all. */
export function checkEntryCount(count: number, refuse: Refuse, path: string): void {
  if (count > LIMITS.lorebookEntriesMax) throw refuse(path, `at most ${LIMITS.lorebookEntriesMax} entries (got ${count})`);
}

/**
 * The book within the limits (LIMITS.lorebook*, texts at most a persona field), control characters
 * removed; `prefix` is the book's own path (e.g. `data.character_book.`), `names` its fields' names.
 */
export function checkLorebook(book: LorebookFields, refuse: Refuse, prefix = '', names: FieldNames = CARD_FIELD_NAMES): LorebookFields {
  const at = (field: string) => `${prefix}${field}`;
  checkEntryCount(book.entries.length, refuse, at(names.entries));
  const name = bounded(refuse, at(names.name), book.name, LIMITS.nameMax).trim();
  return {
    ...book,
    name,
    description: bounded(refuse, at(names.description), book.description, LIMITS.personaFieldMax),
    scan_depth: within(refuse, at(names.scanDepth), book.scan_depth, LIMITS.lorebookScanDepthMax),
    token_budget: within(refuse, at(names.tokenBudget), book.token_budget, LIMITS.lorebookTokenBudgetMax),
    entries: book.entries.map((entry, i) => {
      const entryAt = (field: string) => at(`${names.entries}[${i}].${field}`);
      return {
        ...entry,
        keys: keyList(refuse, entryAt(names.keys), entry.keys),
        secondary_keys: keyList(refuse, entryAt(names.secondaryKeys), entry.secondary_keys),
        content: bounded(refuse, entryAt(names.content), entry.content, LIMITS.personaFieldMax),
        comment: bounded(refuse, entryAt(names.comment), entry.comment, LIMITS.lorebookCommentMax),
      };
    }),
  };
}
