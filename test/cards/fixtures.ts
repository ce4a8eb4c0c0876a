/**
 * Character cards as the community's tools write them, built by the specs for the tests: V1, V2
 * and V3 JSON, PNGs with `chara` and/or `ccv3` tEXt chunks (written with the same chunk packages
 * SillyTavern-style exporters use), CHARX zips, SillyTavern World Info files, and broken ones.
 * Nothing here comes from the code under test.
 */
import { strToU8, zipSync } from 'fflate';
import extractChunks from 'png-chunks-extract';
import encodeChunks from 'png-chunks-encode';
import pngText from 'png-chunk-text';
import sharp from 'sharp';

/** Extension keys no spec names (one namespaced the way V2 asks, one SillyTavern's own): imports must keep them. */
export const UNKNOWN_EXTENSIONS = {
  'example-tool/voice': { pitch: 1.2, engine: 'neural', tags: ['calm', 'low'] },
  depth_prompt: { prompt: 'Stay in character.', depth: 4, role: 'system' },
  talkativeness: '0.5',
  fav: false,
};

/** A character book with two entries, one with every optional field, as V2 describes it. */
export function characterBook(entries = 2) {
  return {
    name: 'Nautilus lore',
    description: 'What Nemo knows.',
    scan_depth: 4,
    token_budget: 1024,
    recursive_scanning: true,
    extensions: { 'example-tool/book': { color: 'teal' } },
    entries: Array.from({ length: entries }, (_, i) =>
      i === 0
        ? {
            keys: ['Nautilus', 'submarine'],
            content: 'The Nautilus is an electric submarine.',
            extensions: { position: 0, depth: 4, probability: 100, 'example-tool/entry': 'kept' },
            enabled: true,
            insertion_order: 10,
            case_sensitive: true,
            name: 'The ship',
            priority: 20,
            id: 7,
            comment: 'ship',
            selective: true,
            secondary_keys: ['ship'],
            constant: false,
            position: 'after_char',
          }
        : { keys: [`key${i}`], content: `Entry ${i}.`, extensions: {}, enabled: i % 2 === 0, insertion_order: 100 + i },
    ),
  };
}

/** The six fields every card has (V1's whole card). */
export function v1Fields(name = 'Captain Nemo') {
  return {
    name,
    description: '{{char}} commands the Nautilus.',
    personality: 'Brooding, brilliant, courteous.',
    scenario: 'Aboard the Nautilus, under the sea.',
    first_mes: 'Welcome aboard the Nautilus, {{user}}.',
    mes_example: '<START>\n{{user}}: Where are we?\n{{char}}: Twenty thousand leagues down.',
  };
}

/** A V1 card (TavernAI): the six fields at the top level. */
export const cardV1 = (name?: string) => v1Fields(name);

/** V2's data: every field, the book, and extensions with unknown keys. */
export function dataV2(name?: string, overrides: Record<string, unknown> = {}) {
  return {
    ...v1Fields(name),
    creator_notes: 'Best with a slow-burn adventure.',
    system_prompt: 'You are {{char}}. Never break character.',
    post_history_instructions: 'Reply in two paragraphs at most.',
    alternate_greetings: ['Ah, a visitor. Sit.', '*The captain does not look up from his charts.*'],
    character_book: characterBook(),
    tags: ['adventure', 'classic'],
    creator: 'jules',
    character_version: '1.2',
    extensions: UNKNOWN_EXTENSIONS,
    ...overrides,
  };
}

/** The character a card of dataV2's gives, in the API's (and CharacterInput's) names. */
export function characterOfCard(name = 'Captain Nemo') {
  return {
    name,
    description: '{{char}} commands the Nautilus.',
    personality: 'Brooding, brilliant, courteous.',
    scenario: 'Aboard the Nautilus, under the sea.',
    greeting: 'Welcome aboard the Nautilus, {{user}}.',
    exampleDialogue: '<START>\n{{user}}: Where are we?\n{{char}}: Twenty thousand leagues down.',
    systemPrompt: 'You are {{char}}. Never break character.',
    postHistoryInstructions: 'Reply in two paragraphs at most.',
    alternateGreetings: ['Ah, a visitor. Sit.', '*The captain does not look up from his charts.*'],
    creatorNotes: 'Best with a slow-burn adventure.',
    creator: 'jules',
    characterVersion: '1.2',
    tags: ['adventure', 'classic'],
  };
}

/** A V2 card as SillyTavern writes one: spec, spec_version, data, and the V1 fields copied at the top level. */
export function cardV2(name?: string, overrides: Record<string, unknown> = {}) {
  return { ...v1Fields(name), spec: 'chara_card_v2', spec_version: '2.0', data: dataV2(name, overrides) };
}

/** A V3 card: V2's data and V3's own fields; `assets` as given (none: the spec's default icon). */
export function cardV3(name?: string, overrides: Record<string, unknown> = {}) {
  return {
    spec: 'chara_card_v3',
    spec_version: '3.0',
    data: {
      ...dataV2(name),
      nickname: 'Nemo',
      creator_notes_multilingual: { fr: 'Pour une aventure lente.' },
      source: ['https://example.com/cards/nemo'],
      group_only_greetings: ['Gentlemen.'],
      creation_date: 1_700_000_000,
      modification_date: 1_700_000_500,
      ...overrides,
    },
  };
}

/** A small picture (not a card), as PNG, JPEG or WebP. */
export function picture(format: 'png' | 'jpeg' | 'webp' = 'png', width = 64, height = 96): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 20, g: 90, b: 160 } } })[format]().toBuffer();
}

const base64Json = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64');

/** A PNG with tEXt chunks added before its end, as card exporters add them. */
export function withTextChunks(png: Buffer, chunks: Array<{ keyword: string; text: string }>): Buffer {
  const all = extractChunks(png);
  const end = all.findIndex((c) => c.name === 'IEND');
  all.splice(end, 0, ...chunks.map((c) => pngText.encode(c.keyword, c.text)));
  return Buffer.from(encodeChunks(all));
}

/** A PNG card: `chara` (V2) and/or `ccv3` (V3) chunks, each the card's JSON in base64. */
export async function pngCard(cards: { v2?: unknown; v3?: unknown }, image?: Buffer): Promise<Buffer> {
  const chunks = [];
  if (cards.v2 !== undefined) chunks.push({ keyword: 'chara', text: base64Json(cards.v2) });
  if (cards.v3 !== undefined) chunks.push({ keyword: 'ccv3', text: base64Json(cards.v3) });
  return withTextChunks(image ?? (await picture('png')), chunks);
}

/** A CHARX: card.json and files. */
export function charx(card: unknown, files: Record<string, Uint8Array> = {}): Buffer {
  return Buffer.from(zipSync({ 'card.json': strToU8(JSON.stringify(card)), ...files }));
}

/** A V3 card whose icon is a file of its CHARX. */
export async function charxCard(name?: string): Promise<{ file: Buffer; image: Buffer }> {
  const image = await picture('webp', 80, 120);
  const card = cardV3(name, { assets: [{ type: 'icon', uri: 'embeded://assets/icon/images/main.webp', name: 'main', ext: 'webp' }] });
  return { file: charx(card, { 'assets/icon/images/main.webp': image }), image };
}

/** A SillyTavern World Info file: entries keyed by uid, in SillyTavern's names. */
export function worldInfo() {
  return {
    entries: {
      '0': {
        uid: 0,
        key: ['Atlantis', 'sunken city'],
        keysecondary: ['ruins'],
        comment: 'The lost city',
        content: 'Atlantis lies under the Atlantic.',
        constant: false,
        selective: true,
        selectiveLogic: 0,
        order: 100,
        position: 0,
        disable: false,
        excludeRecursion: true,
        probability: 100,
        useProbability: true,
        depth: 4,
        group: '',
        caseSensitive: null,
        displayIndex: 0,
      },
      '3': {
        uid: 3,
        key: ['squid'],
        keysecondary: [],
        comment: '',
        content: 'A giant squid attacks ships.',
        constant: true,
        selective: false,
        order: 50,
        position: 4,
        disable: true,
        depth: 2,
        displayIndex: 1,
      },
    },
  };
}

/** base64 of anything: bytes as they are, anything else as its JSON. */
export const base64 = (value: unknown): string => (Buffer.isBuffer(value) ? value.toString('base64') : base64Json(value));
