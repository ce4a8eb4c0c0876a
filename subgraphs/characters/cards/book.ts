/**
 * A card's `character_book` (V2, V3) read into a lorebook, and a lorebook written back as one:
 * every field the specs name, the entries' and the book's extensions as they came, and whatever else
 * an entry or the book carries kept aside for the export.
 */
import { CARD_ENTRY_POSITIONS, type CardEntryPosition, type CharacterBook, type CharacterBookEntry } from './spec';
import { boolean, fileError, number, object, optionalString, record, rest, storableObject, string, strings, type JsonObject } from './shape';
import { checkEntryCount, checkLorebook, LOREBOOK_DEFAULTS, newEntry, type LorebookEntryRecord, type LorebookFields } from '../lorebooks/model';

/** The entry fields the specs name and a lorebook models; any other key is kept in `extra`. */
const ENTRY_FIELDS = [
  'keys', 'content', 'extensions', 'enabled', 'insertion_order', 'case_sensitive', 'use_regex', 'constant',
  'priority', 'comment', 'selective', 'secondary_keys', 'position',
] as const;
/** The book fields a lorebook models. */
const BOOK_FIELDS = ['name', 'description', 'scan_depth', 'token_budget', 'recursive_scanning', 'extensions', 'entries'] as const;

function position(obj: JsonObject, path: string): CardEntryPosition {
  const value = obj.position;
  // Some tools write an empty string for "not set".
  if (value == null || value === '') return 'before_char';
  if (!CARD_ENTRY_POSITIONS.includes(value as CardEntryPosition)) throw fileError(`${path}.position`, `must be one of ${CARD_ENTRY_POSITIONS.join(', ')}`);
  return value as CardEntryPosition;
}

/** One entry of a character book; `path` names it in refusals. */
function readEntry(value: unknown, path: string): LorebookEntryRecord {
  const entry = object(value, path);
  return newEntry({
    keys: strings(entry, 'keys', path, []),
    content: string(entry, 'content', path, ''),
    extensions: storableObject(record(entry, 'extensions', path), `${path}.extensions`),
    enabled: boolean(entry, 'enabled', path, true),
    insertion_order: number(entry, 'insertion_order', path, LOREBOOK_DEFAULTS.entryInsertionOrder),
    case_sensitive: boolean(entry, 'case_sensitive', path, false),
    use_regex: boolean(entry, 'use_regex', path, false),
    constant: boolean(entry, 'constant', path, false),
    priority: number(entry, 'priority', path, LOREBOOK_DEFAULTS.entryPriority),
    comment: string(entry, 'comment', path, ''),
    selective: boolean(entry, 'selective', path, false),
    secondary_keys: strings(entry, 'secondary_keys', path, []),
    position: position(entry, path),
    extra: storableObject(rest(entry, ENTRY_FIELDS), path),
  });
}

/**
 * A character book, checked against the spec's shape and the lorebook limits; `path` is where it
 * sits in the file (`data.character_book`, or empty for a book imported alone).
 */
export function readCharacterBook(value: unknown, path: string): LorebookFields {
  const book = object(value, path);
  const prefix = path ? `${path}.` : '';
  const entries = book.entries;
  if (!Array.isArray(entries)) throw fileError(`${prefix}entries`, 'must be an array');
  const fields: LorebookFields = {
    name: optionalString(book, 'name', path) ?? '',
    description: optionalString(book, 'description', path) ?? '',
    scan_depth: number(book, 'scan_depth', path) ?? null,
    token_budget: number(book, 'token_budget', path) ?? null,
    recursive_scanning: boolean(book, 'recursive_scanning', path) ?? null,
    extensions: storableObject(record(book, 'extensions', path), `${prefix}extensions`),
    extra: storableObject(rest(book, BOOK_FIELDS), path),
    entries: [],
  };
  // Counted before any entry is read, so a huge book costs nothing.
  checkEntryCount(entries.length, fileError, `${prefix}entries`);
  fields.entries = entries.map((entry, i) => readEntry(entry, `${prefix}entries[${i}]`));
  return checkLorebook(fields, fileError, prefix);
}

/** A lorebook as a spec character book (V3's fields, which V2 readers take as they are: V3 only adds). */
export function writeCharacterBook(book: LorebookFields): CharacterBook {
  return {
    ...book.extra,
    name: book.name,
    description: book.description,
    ...(book.scan_depth !== null ? { scan_depth: book.scan_depth } : {}),
    ...(book.token_budget !== null ? { token_budget: book.token_budget } : {}),
    ...(book.recursive_scanning !== null ? { recursive_scanning: book.recursive_scanning } : {}),
    extensions: book.extensions,
    entries: book.entries.map(
      (entry): CharacterBookEntry => ({
        ...entry.extra,
        keys: entry.keys,
        content: entry.content,
        extensions: entry.extensions,
        enabled: entry.enabled,
        insertion_order: entry.insertion_order,
        case_sensitive: entry.case_sensitive,
        use_regex: entry.use_regex,
        constant: entry.constant,
        priority: entry.priority,
        comment: entry.comment,
        selective: entry.selective,
        secondary_keys: entry.secondary_keys,
        position: entry.position,
      }),
    ),
  };
}
