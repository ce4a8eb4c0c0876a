/**
 * Card files in and out, without a database: each kind read as the specs say (V3 preferred in a PNG
 * with both chunks, a CHARX's icon, broken files refused), and each format written so it validates
 * and reads back to the same character.
 */
import { describe, expect, it } from '@jest/globals';
import { strFromU8, unzipSync, zipSync } from 'fflate';
import extractChunks from 'png-chunks-extract';
import pngText from 'png-chunk-text';
import sharp from 'sharp';
import { base64, cardV1, cardV2, cardV3, charx, charxCard, picture, pngCard, UNKNOWN_EXTENSIONS, withTextChunks } from '../../../test/cards/fixtures';
import { refusal } from '../../../test/cards/refusals';
import type { CharacterRow } from '../tables';
import { decodeCardFile, type DecodedCard } from './decode';
import { encodeCard, CHARX_ICON_PATH } from './encode';

const MAX = 10 * 1024 * 1024;

/** The message of the refusal `run` throws, on the file. */
const refused = (run: () => unknown): string => refusal(run, 'file').message;

/** A stored character as an import of `decoded` would store it (what the codec sees on export). */
function storedFrom(decoded: DecodedCard): CharacterRow {
  const c = decoded.card.character;
  return {
    id: '3f9c1d0e-8a1b-4c2d-9e3f-1a2b3c4d5e6f',
    owner_id: '3f9c1d0e-8a1b-4c2d-9e3f-000000000000',
    name: c.name,
    description: c.description,
    personality: c.personality,
    scenario: c.scenario,
    greeting: c.greeting,
    example_dialogue: c.exampleDialogue,
    system_prompt: c.systemPrompt,
    tags: c.tags,
    visibility: 'PRIVATE',
    alternate_greetings: c.alternateGreetings,
    post_history_instructions: c.postHistoryInstructions,
    creator_notes: c.creatorNotes,
    creator: c.creator,
    character_version: c.characterVersion,
    card_extensions: decoded.card.extensions,
    card_extra: decoded.card.extra,
    image_etag: decoded.image ? 'etag' : null,
    created_at: new Date('2026-01-02T03:04:05Z'),
    updated_at: new Date('2026-01-02T03:04:05Z'),
    deleted_at: null,
  };
}

/** What must survive a round trip: the character, its book without the ids we give entries, the kept JSON. */
function essence(decoded: DecodedCard) {
  const { modification_date: _changes, creation_date: _kept, ...extra } = decoded.card.extra;
  return {
    character: decoded.card.character,
    extensions: decoded.card.extensions,
    extra,
    lorebook: decoded.card.lorebook && { ...decoded.card.lorebook, entries: decoded.card.lorebook.entries.map(({ id: _id, ...entry }) => entry) },
  };
}

describe('decodeCardFile', () => {
  it('reads a V2 PNG (chara chunk) and takes the PNG as the image', async () => {
    const image = await picture('png');
    const file = await pngCard({ v2: cardV2('Nemo') }, image);
    const decoded = decodeCardFile(file, MAX);
    expect(decoded).toMatchObject({ kind: 'png', card: { version: 2, character: { name: 'Nemo' } } });
    expect(Buffer.from(decoded.image!)).toEqual(file);
  });

  it('prefers the ccv3 chunk when a PNG carries both, in either order', async () => {
    for (const order of ['v2 first', 'v3 first']) {
      const chunks = [
        { keyword: 'chara', text: base64(cardV2('Old')) },
        { keyword: 'ccv3', text: base64(cardV3('New')) },
      ];
      const file = withTextChunks(await picture('png'), order === 'v2 first' ? chunks : chunks.reverse());
      expect(decodeCardFile(file, MAX).card).toMatchObject({ version: 3, character: { name: 'New' } });
    }
  });

  it('reads V1, V2 and V3 JSON, with no image', () => {
    for (const [card, version] of [[cardV1(), 1], [cardV2(), 2], [cardV3(), 3]] as const) {
      const decoded = decodeCardFile(Buffer.from(JSON.stringify(card)), MAX);
      expect({ kind: decoded.kind, version: decoded.card.version, image: decoded.image }).toEqual({ kind: 'json', version, image: undefined });
    }
  });

  it("reads a CHARX: card.json and the icon asset it points at with embeded://", async () => {
    const { file, image } = await charxCard('Zipped');
    const decoded = decodeCardFile(file, MAX);
    expect(decoded.card).toMatchObject({ version: 3, character: { name: 'Zipped' } });
    expect(Buffer.from(decoded.image!)).toEqual(image);
  });

  it('refuses broken files with a clear BAD_USER_INPUT', async () => {
    const png = await pngCard({ v2: cardV2() });
    expect(refused(() => decodeCardFile(png.subarray(0, png.length - 30), MAX))).toMatch(/not a valid PNG/);
    expect(refused(() => decodeCardFile(png.subarray(0, 40), MAX))).toMatch(/not a valid PNG/);
    // A chunk length forged to a gigabyte is refused without reading it.
    const forged = Buffer.from(png);
    forged.writeUInt32BE(0x3fffffff, 8);
    expect(refused(() => decodeCardFile(forged, MAX))).toMatch(/truncated/);
    const plain = await picture('png');
    expect(refused(() => decodeCardFile(withTextChunks(plain, [{ keyword: 'chara', text: '%%% not base64 %%%' }]), MAX))).toContain('PNG chara chunk: is not base64');
    expect(refused(() => decodeCardFile(withTextChunks(plain, [{ keyword: 'ccv3', text: Buffer.from('{"spec":').toString('base64') }]), MAX))).toContain('not valid JSON');
    expect(refused(() => decodeCardFile(plain, MAX))).toContain('without a character card');
    const jpeg = await picture('jpeg');
    expect(refused(() => decodeCardFile(jpeg, MAX))).toContain('is not a character card');
    expect(refused(() => decodeCardFile(charx(cardV3()).subarray(0, 50), MAX))).toContain('not a valid CHARX zip');
    const noCard = Buffer.from(zipSync({ 'other.json': new Uint8Array([123, 125]) }));
    expect(refused(() => decodeCardFile(noCard, MAX))).toContain('without card.json');
    const missingIcon = charx(cardV3('Nemo', { assets: [{ type: 'icon', uri: 'embeded://assets/icon/images/gone.png', name: 'main', ext: 'png' }] }));
    expect(refused(() => decodeCardFile(missingIcon, MAX))).toContain('is not in the zip');
  });
});

describe('encodeCard', () => {
  const formats = ['PNG', 'JSON_V2', 'JSON_V3', 'CHARX'] as const;

  it('writes JSON_V2 and JSON_V3 with the spec, every field, and the kept unknown keys', async () => {
    const decoded = decodeCardFile(Buffer.from(JSON.stringify(cardV3('Nemo', { 'example-tool/unknown_field': 1 }))), MAX);
    const source = { character: storedFrom(decoded), lorebook: decoded.card.lorebook };
    const v2 = JSON.parse((await encodeCard(source, 'JSON_V2')).data.toString('utf8'));
    expect(v2).toMatchObject({ spec: 'chara_card_v2', spec_version: '2.0' });
    for (const field of ['name', 'description', 'personality', 'scenario', 'first_mes', 'mes_example', 'creator_notes', 'system_prompt', 'post_history_instructions', 'creator', 'character_version']) {
      expect({ field, type: typeof v2.data[field] }).toEqual({ field, type: 'string' });
    }
    expect(v2.data).toMatchObject({ alternate_greetings: expect.any(Array), tags: ['adventure', 'classic'], extensions: UNKNOWN_EXTENSIONS, 'example-tool/unknown_field': 1 });
    expect(v2.data.nickname).toBeUndefined(); // V3's own fields stay out of V2
    expect(v2.data.character_book.entries[0]).toMatchObject({ keys: ['Nautilus', 'submarine'], name: 'The ship', id: 7, extensions: { 'example-tool/entry': 'kept' } });
    const v3 = JSON.parse((await encodeCard(source, 'JSON_V3')).data.toString('utf8'));
    expect(v3).toMatchObject({ spec: 'chara_card_v3', spec_version: '3.0' });
    expect(v3.data).toMatchObject({ nickname: 'Nemo', group_only_greetings: ['Gentlemen.'], creation_date: 1_700_000_000, assets: [], 'example-tool/unknown_field': 1 });
    expect(v3.data.modification_date).toBe(Date.parse('2026-01-02T03:04:05Z') / 1000);
    for (const entry of v3.data.character_book.entries) expect(typeof entry.use_regex).toBe('boolean');
  });

  it('writes a PNG with both chunks over the image, and a CHARX with card.json and the image at its embeded:// path', async () => {
    const decoded = decodeCardFile(await pngCard({ v3: cardV3('Nemo') }), MAX);
    const image = await sharp(Buffer.from(decoded.image!)).webp().toBuffer();
    const source = { character: storedFrom(decoded), lorebook: decoded.card.lorebook, image };
    const png = await encodeCard(source, 'PNG');
    expect(png).toMatchObject({ filename: 'Nemo.png', mimeType: 'image/png' });
    const texts = extractChunks(png.data).filter((c) => c.name === 'tEXt').map((c) => pngText.decode(c.data));
    expect(texts.map((t) => t.keyword).sort()).toEqual(['ccv3', 'chara']);
    const chunk = (keyword: string) => JSON.parse(Buffer.from(texts.find((t) => t.keyword === keyword)!.text, 'base64').toString('utf8'));
    expect(chunk('chara').spec).toBe('chara_card_v2');
    expect(chunk('ccv3').data.assets).toEqual([{ type: 'icon', uri: 'ccdefault:', name: 'main', ext: 'png' }]);
    expect((await sharp(png.data).metadata()).width).toBe(64);
    const zip = await encodeCard(source, 'CHARX');
    expect(zip).toMatchObject({ filename: 'Nemo.charx', mimeType: 'application/zip' });
    const files = unzipSync(zip.data);
    expect(Object.keys(files).sort()).toEqual([CHARX_ICON_PATH, 'card.json'].sort());
    expect(JSON.parse(strFromU8(files['card.json'])).data.assets[0]).toEqual({ type: 'icon', uri: `embeded://${CHARX_ICON_PATH}`, name: 'main', ext: 'webp' });
    expect(Buffer.from(files[CHARX_ICON_PATH])).toEqual(image);
  });

  it('reads back every format to the same character, book and kept keys (the image where the format carries one)', async () => {
    const decoded = decodeCardFile(await pngCard({ v2: cardV2('Nemo'), v3: cardV3('Nemo', { 'example-tool/unknown_field': { a: [1] } }) }), MAX);
    const image = await sharp(Buffer.from(decoded.image!)).webp().toBuffer();
    for (const format of formats) {
      const written = await encodeCard({ character: storedFrom(decoded), lorebook: decoded.card.lorebook, image }, format);
      const back = decodeCardFile(written.data, MAX);
      const expected = essence(decoded);
      // V2 has no place for V3's own fields.
      if (format === 'JSON_V2') for (const key of ['nickname', 'creator_notes_multilingual', 'source', 'group_only_greetings']) delete (expected.extra as Record<string, unknown>)[key];
      expect({ format, ...essence(back) }).toEqual({ format, ...expected });
      expect({ format, image: back.image !== undefined }).toEqual({ format, image: format === 'PNG' || format === 'CHARX' });
    }
  });

  it('gives a character without an image a default picture in PNG, whose V3 card names no icon: it reads back without one', async () => {
    const decoded = decodeCardFile(Buffer.from(JSON.stringify(cardV2('Plain'))), MAX);
    const png = await encodeCard({ character: storedFrom(decoded), lorebook: null }, 'PNG');
    expect((await sharp(png.data).metadata()).format).toBe('png');
    expect(decodeCardFile(png.data, MAX).image).toBeUndefined();
    expect(unzipSync((await encodeCard({ character: storedFrom(decoded), lorebook: null }, 'CHARX')).data)).not.toHaveProperty([CHARX_ICON_PATH]);
  });
});
