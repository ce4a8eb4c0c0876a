/** Card JSON against the specs' shapes: what V1, V2 and V3 cards give a character, and what is refused. */
import { describe, expect, it } from '@jest/globals';
import { cardV1, cardV2, cardV3, characterBook, characterOfCard, UNKNOWN_EXTENSIONS } from '../../../test/cards/fixtures';
import { refusal } from '../../../test/cards/refusals';
import { parseCard, parseCardText } from './parse';

/** The message of the refusal `run` throws, on the file. */
const refused = (run: () => unknown): string => refusal(run, 'file').message;

describe('parseCard', () => {
  it('reads a V1 card: its six fields at the top level, nothing else modelled', () => {
    const card = parseCard({ ...cardV1(), avatar: 'none' });
    expect(card.version).toBe(1);
    expect(card.character).toMatchObject({
      name: 'Captain Nemo',
      greeting: 'Welcome aboard the Nautilus, {{user}}.',
      exampleDialogue: expect.stringContaining('<START>'),
      alternateGreetings: [],
      creator: '',
    });
    expect(card.paths.greeting).toBe('first_mes');
    expect(card.extra).toEqual({ avatar: 'none' });
    expect(card.lorebook).toBeNull();
  });

  it('maps every V2 field as the spec names it, and keeps unknown extension keys and data fields', () => {
    const card = parseCard(cardV2('Nemo', { 'example-tool/unknown_field': [1, 2] }));
    expect(card.version).toBe(2);
    expect(card.character).toEqual(characterOfCard('Nemo'));
    expect(card.paths.greeting).toBe('data.first_mes');
    expect(card.extensions).toEqual(UNKNOWN_EXTENSIONS);
    expect(card.extra).toEqual({ 'example-tool/unknown_field': [1, 2] });
    expect(card.icon).toEqual({ kind: 'container' });
  });

  it("reads the embedded book with every entry field, keeping the entries' unmodelled fields and extensions", () => {
    const book = parseCard(cardV2()).lorebook!;
    expect(book).toMatchObject({ name: 'Nautilus lore', scan_depth: 4, token_budget: 1024, recursive_scanning: true, extensions: { 'example-tool/book': { color: 'teal' } } });
    expect(book.entries).toHaveLength(2);
    expect(book.entries[0]).toMatchObject({
      keys: ['Nautilus', 'submarine'],
      secondary_keys: ['ship'],
      selective: true,
      case_sensitive: true,
      insertion_order: 10,
      priority: 20,
      position: 'after_char',
      comment: 'ship',
      extensions: { position: 0, depth: 4, probability: 100, 'example-tool/entry': 'kept' },
      extra: { name: 'The ship', id: 7 },
    });
    // An entry that leaves the optional fields out gets the defaults.
    expect(book.entries[1]).toMatchObject({ enabled: false, selective: false, constant: false, secondary_keys: [], position: 'before_char', extra: {} });
  });

  it('reads V3: its own fields kept, the default icon when no assets are listed, and none when assets list no icon', () => {
    const card = parseCard(cardV3());
    expect(card.version).toBe(3);
    expect(card.extra).toMatchObject({ nickname: 'Nemo', source: ['https://example.com/cards/nemo'], group_only_greetings: ['Gentlemen.'], creation_date: 1_700_000_000 });
    expect(card.icon).toEqual({ kind: 'container' });
    const background = { type: 'background', uri: 'https://example.com/sea.png', name: 'main', ext: 'png' };
    const noIcon = parseCard(cardV3('Nemo', { assets: [background] }));
    expect(noIcon.icon).toEqual({ kind: 'none' });
    expect(noIcon.extra.assets).toEqual([background]);
    const embedded = parseCard(cardV3('Nemo', { assets: [{ type: 'icon', uri: 'embeded://assets/icon/images/main.png', name: 'main', ext: 'png' }] }));
    expect(embedded.icon).toEqual({ kind: 'embedded', path: 'assets/icon/images/main.png' });
    expect(embedded.extra.assets).toBeUndefined();
  });

  it('refuses what is not a card, naming the path inside the file', () => {
    expect(refused(() => parseCardText('not json'))).toContain('not valid JSON');
    expect(refused(() => parseCard([1, 2]))).toContain('JSON object');
    expect(refused(() => parseCard({ spec: 'chara_card_v9', data: {} }))).toContain('file: spec: must be chara_card_v2 or chara_card_v3');
    expect(refused(() => parseCard({ description: 'no name' }))).toContain('file: name: is required');
    expect(refused(() => parseCard({ spec: 'chara_card_v2', spec_version: '2.0' }))).toContain('file: data: must be an object');
    expect(refused(() => parseCard(cardV2('Nemo', { alternate_greetings: 'hello' })))).toContain('file: data.alternate_greetings: must be an array of strings');
    expect(refused(() => parseCard(cardV2('Nemo', { tags: ['ok', 3] })))).toContain('file: data.tags[1]: must be a string');
    expect(refused(() => parseCard(cardV2('Nemo', { first_mes: 42 })))).toContain('file: data.first_mes: must be a string');
    expect(refused(() => parseCard(cardV2('Nemo', { extensions: [] })))).toContain('file: data.extensions: must be an object');
    const book = characterBook();
    (book.entries[1] as Record<string, unknown>).keys = 'one';
    expect(refused(() => parseCard(cardV2('Nemo', { character_book: book })))).toContain('file: data.character_book.entries[1].keys: must be an array of strings');
    expect(refused(() => parseCard(cardV2('Nemo', { character_book: { entries: {} } })))).toContain('data.character_book.entries: must be an array');
    expect(refused(() => parseCard(cardV3('Nemo', { assets: [{ uri: 'x' }] })))).toContain('file: data.assets[0].type: is required');
    expect(refused(() => parseCard(cardV3('Nemo', { creation_date: 'yesterday' })))).toContain('file: data.creation_date: must be a number');
  });

  it('refuses a book of more than 1,000 entries before reading them', () => {
    expect(refused(() => parseCard(cardV2('Nemo', { character_book: characterBook(1001) })))).toContain('data.character_book.entries: at most 1000 entries (got 1001)');
    expect(parseCard(cardV2('Nemo', { character_book: characterBook(1000) })).lorebook!.entries).toHaveLength(1000);
  });

  it('makes kept JSON storable: NULs dropped, absurd nesting refused', () => {
    const card = parseCard(cardV2('Nemo', { extensions: { 'a\u0000b': 'c\u0000d' } }));
    expect(card.extensions).toEqual({ ab: 'cd' });
    let deep: unknown = 'bottom';
    for (let i = 0; i < 100; i++) deep = [deep];
    expect(refused(() => parseCard(cardV2('Nemo', { extensions: { deep } })))).toContain('nested more than 64 levels deep');
  });
});
