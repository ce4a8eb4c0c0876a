/**
 * A SillyTavern World Info file read into a lorebook. Its `entries` is an object keyed by uid, each
 * entry in SillyTavern's own names (`key`, `keysecondary`, `order`, `disable`, a numeric `position`...).
 * What a lorebook models is mapped; the rest goes into the entry's extensions, under the names
 * SillyTavern uses in a character_book's extensions where it has one, so an export of the book reads
 * back into SillyTavern the same.
 */
import { boolean, fileError, isObject, number, object, optionalString, rest, storableObject, string, strings, type JsonObject } from '../cards/shape';
import { checkEntryCount, checkLorebook, LOREBOOK_DEFAULTS, newEntry, type LorebookEntryRecord, type LorebookFields } from './model';

/** SillyTavern's positions before and after the character's definitions; any other (author's note, at depth...) is kept in extensions.position. */
export const WORLD_INFO_POSITION = { beforeCharacter: 0, afterCharacter: 1 } as const;

/** The entry fields mapped onto a lorebook entry's own. */
const MAPPED = ['uid', 'key', 'keysecondary', 'comment', 'content', 'constant', 'selective', 'order', 'position', 'disable', 'caseSensitive'] as const;

/** SillyTavern entry fields and the character_book extension keys SillyTavern gives them. */
const EXTENSION_NAMES: Record<string, string> = {
  excludeRecursion: 'exclude_recursion',
  preventRecursion: 'prevent_recursion',
  delayUntilRecursion: 'delay_until_recursion',
  displayIndex: 'display_index',
  groupOverride: 'group_override',
  groupWeight: 'group_weight',
  scanDepth: 'scan_depth',
  matchWholeWords: 'match_whole_words',
  useGroupScoring: 'use_group_scoring',
  automationId: 'automation_id',
};

/** Whether parsed JSON looks like a World Info file: `entries` keyed by uid, not a list. */
export function isWorldInfo(json: unknown): json is JsonObject & { entries: JsonObject } {
  return isObject(json) && isObject(json.entries);
}

/** SillyTavern keeps keys as a list; older files have one comma-separated string. */
function keyList(entry: JsonObject, field: string, path: string): string[] {
  const value = entry[field];
  if (typeof value === 'string') return value.split(',').map((k) => k.trim()).filter(Boolean);
  return strings(entry, field, path, []);
}

function readEntry(value: unknown, uid: string, path: string): LorebookEntryRecord {
  const entry = object(value, path);
  const position = number(entry, 'position', path, WORLD_INFO_POSITION.beforeCharacter);
  const extensions: JsonObject = {};
  for (const [key, item] of Object.entries(rest(entry, MAPPED))) extensions[EXTENSION_NAMES[key] ?? key] = item;
  extensions.position = position;
  return newEntry({
    keys: keyList(entry, 'key', path),
    secondary_keys: keyList(entry, 'keysecondary', path),
    comment: optionalString(entry, 'comment', path) ?? '',
    content: string(entry, 'content', path, ''),
    constant: boolean(entry, 'constant', path, false),
    selective: boolean(entry, 'selective', path, false),
    insertion_order: number(entry, 'order', path, LOREBOOK_DEFAULTS.entryInsertionOrder),
    enabled: !boolean(entry, 'disable', path, false),
    // SillyTavern's null means "the global setting": off, as ours is.
    case_sensitive: boolean(entry, 'caseSensitive', path, false),
    position: position === WORLD_INFO_POSITION.beforeCharacter ? 'before_char' : 'after_char',
    extensions: storableObject(extensions, `${path}`),
    // The uid becomes the character_book entry's id.
    extra: { id: /^\d+$/.test(uid) ? Number(uid) : uid },
  });
}

/** A World Info file as a lorebook named `name` (the file's own name when it has one), within the lorebook limits. */
export function readWorldInfo(json: JsonObject & { entries: JsonObject }, name: string): LorebookFields {
  const entries = Object.entries(json.entries);
  checkEntryCount(entries.length, fileError, 'entries');
  const book: LorebookFields = {
    name: optionalString(json, 'name', '') ?? name,
    description: optionalString(json, 'description', '') ?? '',
    scan_depth: null,
    token_budget: null,
    recursive_scanning: null,
    extensions: {},
    // originalData is SillyTavern's copy of the character_book the file came from: the entries say it all.
    extra: storableObject(rest(json, ['entries', 'name', 'description', 'originalData']), ''),
    entries: entries.map(([uid, entry]) => readEntry(entry, uid, `entries.${uid}`)),
  };
  // SillyTavern lists entries by displayIndex in its editor, else by uid: keep that order.
  book.entries.sort((a, b) => order(a) - order(b));
  return checkLorebook(book, fileError);
}

const order = (entry: LorebookEntryRecord) => {
  const index = entry.extensions.display_index;
  return typeof index === 'number' ? index : typeof entry.extra.id === 'number' ? entry.extra.id : 0;
};
