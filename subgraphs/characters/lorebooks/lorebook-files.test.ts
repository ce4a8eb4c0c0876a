/** Lorebook files: SillyTavern World Info, character_book and lorebook_v3 read into a lorebook, and what is refused. */
import { describe, expect, it } from '@jest/globals';
import { base64, characterBook, worldInfo } from '../../../test/cards/fixtures';
import { refusal } from '../../../test/cards/refusals';
import { writeCharacterBook } from '../cards/book';
import { readLorebookFile, UNNAMED_LOREBOOK } from './import';
import { lorebookFromInput } from './input';

describe('readLorebookFile', () => {
  it("maps SillyTavern World Info entries (keyed by uid) and keeps SillyTavern's other settings in the entries' extensions", () => {
    const book = readLorebookFile(base64(worldInfo()));
    expect(book.name).toBe(UNNAMED_LOREBOOK);
    expect(book.entries).toHaveLength(2);
    const [atlantis, squid] = book.entries;
    expect(atlantis).toMatchObject({
      keys: ['Atlantis', 'sunken city'],
      secondary_keys: ['ruins'],
      selective: true,
      constant: false,
      enabled: true,
      case_sensitive: false,
      insertion_order: 100,
      position: 'before_char',
      content: 'Atlantis lies under the Atlantic.',
      comment: 'The lost city',
      extra: { id: 0 },
    });
    expect(atlantis.extensions).toMatchObject({ position: 0, exclude_recursion: true, probability: 100, useProbability: true, depth: 4, selectiveLogic: 0, display_index: 0 });
    // Disabled, constant, and at a position the API does not name (4: at depth): after the character, the original kept.
    expect(squid).toMatchObject({ enabled: false, constant: true, insertion_order: 50, position: 'after_char', extensions: { position: 4, depth: 2 }, extra: { id: 3 } });
  });

  it('reads a bare character_book and a lorebook_v3 file, and writes the book back as it came', () => {
    const book = characterBook();
    for (const file of [book, { spec: 'lorebook_v3', data: book }]) {
      const read = readLorebookFile(base64(file));
      expect(read).toMatchObject({ name: 'Nautilus lore', scan_depth: 4, token_budget: 1024, recursive_scanning: true });
      const written = writeCharacterBook(read);
      expect(written.extensions).toEqual(book.extensions);
      expect(written.entries[0]).toMatchObject(book.entries[0]);
      expect(written.entries[1]).toMatchObject(book.entries[1]);
    }
  });

  it('refuses what is no lorebook, with BAD_USER_INPUT on the file', () => {
    expect(refusal(() => readLorebookFile('¿not base64?')).message).toBe('file: must be base64');
    expect(refusal(() => readLorebookFile(Buffer.from('{').toString('base64'))).message).toContain('not valid JSON');
    expect(refusal(() => readLorebookFile(base64({ name: 'x' }))).message).toContain('is not a lorebook');
    expect(refusal(() => readLorebookFile(base64({ entries: { '1': { key: 'a', content: 5 } } }))).message).toContain('file: entries.1.content: must be a string');
    const many = { entries: Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [String(i), { key: ['k'], content: 'c' }])) };
    expect(refusal(() => readLorebookFile(base64(many))).message).toContain('at most 1000 entries');
    const long = { entries: [{ keys: ['k'], content: 'x'.repeat(10_001), extensions: {}, enabled: true, insertion_order: 0 }] };
    expect(refusal(() => readLorebookFile(base64(long))).message).toContain('file: entries[0].content: must be at most 10000 characters');
  });
});

describe('lorebookFromInput', () => {
  it('fills defaults, replaces entries when given, keeps them (and the kept JSON) when not', () => {
    const created = lorebookFromInput({ name: ' Atlas ', entries: [{ keys: ['a'], content: 'A.', position: 'AFTER_CHARACTER', priority: 3 }] });
    expect(created).toMatchObject({ name: 'Atlas', description: '', scan_depth: null, entries: [{ keys: ['a'], position: 'after_char', priority: 3, enabled: true, constant: false }] });
    const imported = readLorebookFile(base64(characterBook()));
    const renamed = lorebookFromInput({ name: 'Renamed', scanDepth: 9 }, imported);
    expect(renamed).toMatchObject({ name: 'Renamed', scan_depth: 9, token_budget: 1024, extensions: imported.extensions, entries: imported.entries });
    expect(refusal(() => lorebookFromInput({ name: '  ' })).extensions.field).toBe('name');
    expect(refusal(() => lorebookFromInput({ name: 'x', scanDepth: -1 })).extensions.field).toBe('scanDepth');
    expect(refusal(() => lorebookFromInput({ name: 'x', entries: [{ keys: ['k'.repeat(201)], content: '' }] })).extensions.field).toBe('entries[0].keys[0]');
  });
});
