/**
 * Character cards through the gateway: every kind of file imported as the specs say, every format
 * exported and imported again to the same character (unknown extension keys kept), broken and
 * oversized files refused with nothing stored, and the new character fields and their search.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { strFromU8, unzipSync } from 'fflate';
import extractChunks from 'png-chunks-extract';
import pngText from 'png-chunk-text';
import sharp from 'sharp';
import { ENGINES, startTestSystem, uniqueName, type TestSystem } from '../support/system';
import { createCharacter, expectError, expectOk, START_TIMEOUT_MS } from '../e2e/helpers';
import { base64, cardV1, cardV2, cardV3, characterBook, characterOfCard, charx, charxCard, picture, pngCard, UNKNOWN_EXTENSIONS, withTextChunks } from './fixtures';
import { CARD_CHARACTER_FIELDS, exportCard, expectFileRefused, IMPORT, importCard, ownCharacterIds, ownLorebookIds, sameness } from './helpers';

const FORMATS = ['PNG', 'JSON_V2', 'JSON_V3', 'CHARX'] as const;

/** The card JSON texts of a PNG's tEXt chunks, by keyword. */
function pngCards(png: Buffer): Record<string, any> {
  const texts = extractChunks(png).filter((c) => c.name === 'tEXt').map((c) => pngText.decode(c.data));
  return Object.fromEntries(texts.map((t) => [t.keyword, JSON.parse(Buffer.from(t.text, 'base64').toString('utf8'))]));
}

describe.each(ENGINES)('character cards (%s)', (engine) => {
  let t: TestSystem;
  let alice: { token: string; id: string };
  let bob: { token: string; id: string };

  beforeAll(async () => {
    t = await startTestSystem(engine);
    [alice, bob] = await Promise.all([t.signUp('Alice'), t.signUp('Bob')]);
  }, START_TIMEOUT_MS);
  afterAll(() => t?.stop());

  it('imports a V1 JSON card: its six fields, nothing else, PRIVATE', async () => {
    const character = await importCard(t, alice.token, Buffer.from(JSON.stringify(cardV1('Vee One'))));
    expect(character).toMatchObject({
      name: 'Vee One',
      greeting: 'Welcome aboard the Nautilus, {{user}}.',
      exampleDialogue: expect.stringContaining('<START>'),
      alternateGreetings: [],
      creator: '',
      visibility: 'PRIVATE',
      avatarUrl: null,
      lorebook: null,
      owner: { id: alice.id },
    });
  });

  it('imports a V2 PNG: every field as the spec maps it, its book, and its image', async () => {
    const character = await importCard(t, alice.token, await pngCard({ v2: cardV2('Nemo Two') }), 'PUBLIC');
    expect(character).toMatchObject({ ...characterOfCard('Nemo Two'), visibility: 'PUBLIC' });
    expect(character.avatarUrl).toMatch(new RegExp(`^${t.config.images.publicUrl}/images/characters/${character.id}\\?v=`));
    expect(character.lorebook).toMatchObject({ name: 'Nautilus lore', scanDepth: 4, tokenBudget: 1024, recursiveScanning: true, owner: { id: alice.id } });
    expect(character.lorebook.entries[0]).toEqual({
      keys: ['Nautilus', 'submarine'],
      secondaryKeys: ['ship'],
      selective: true,
      constant: false,
      enabled: true,
      caseSensitive: true,
      useRegex: false,
      insertionOrder: 10,
      priority: 20,
      position: 'AFTER_CHARACTER',
      content: 'The Nautilus is an electric submarine.',
      comment: 'ship',
    });
  });

  it('takes the V3 card from a PNG that carries both chunks, and the icon from a CHARX', async () => {
    const both = await importCard(t, alice.token, await pngCard({ v2: cardV2('Backfilled'), v3: cardV3('Native') }));
    expect(both.name).toBe('Native');
    const { file } = await charxCard('Zipped');
    const zipped = await importCard(t, alice.token, file);
    expect(zipped.name).toBe('Zipped');
    expect(zipped.avatarUrl).not.toBeNull();
    // V3 JSON has no image.
    expect((await importCard(t, alice.token, Buffer.from(JSON.stringify(cardV3('Plain V3'))))).avatarUrl).toBeNull();
  });

  it('exports every format so it validates against its spec, and anyone who sees the character may export it', async () => {
    const character = await importCard(t, alice.token, await pngCard({ v3: cardV3('Exported', { 'example-tool/unknown_field': [1] }) }), 'PUBLIC');
    const v2 = await exportCard(t, alice.token, character.id, 'JSON_V2');
    expect(v2).toMatchObject({ filename: 'Exported.json', mimeType: 'application/json' });
    const v2card = JSON.parse(v2.data.toString('utf8'));
    expect(v2card).toMatchObject({ spec: 'chara_card_v2', spec_version: '2.0', data: { name: 'Exported', first_mes: character.greeting, extensions: UNKNOWN_EXTENSIONS } });
    const v3card = JSON.parse((await exportCard(t, alice.token, character.id, 'JSON_V3')).data.toString('utf8'));
    expect(v3card).toMatchObject({ spec: 'chara_card_v3', spec_version: '3.0', data: { nickname: 'Nemo', group_only_greetings: ['Gentlemen.'], 'example-tool/unknown_field': [1] } });
    const png = await exportCard(t, bob.token, character.id, 'PNG');
    expect(png).toMatchObject({ filename: 'Exported.png', mimeType: 'image/png' });
    const chunks = pngCards(png.data);
    expect(Object.keys(chunks).sort()).toEqual(['ccv3', 'chara']);
    expect(chunks.chara.spec).toBe('chara_card_v2');
    expect(chunks.ccv3.spec).toBe('chara_card_v3');
    expect((await sharp(png.data).metadata()).format).toBe('png');
    const charx = await exportCard(t, undefined, character.id, 'CHARX');
    expect(charx).toMatchObject({ filename: 'Exported.charx', mimeType: 'application/zip' });
    const files = unzipSync(charx.data);
    const card = JSON.parse(strFromU8(files['card.json']));
    const icon = card.data.assets.find((a: any) => a.type === 'icon');
    expect(icon.uri).toMatch(/^embeded:\/\//);
    expect((await sharp(Buffer.from(files[icon.uri.slice('embeded://'.length)])).metadata()).format).toBe('webp');
    // A private character is nobody else's to export.
    const secret = await importCard(t, alice.token, Buffer.from(JSON.stringify(cardV2('Secret'))));
    for (const token of [bob.token, undefined]) expectError(await t.gql(`mutation($id: ID!) { exportCharacter(id: $id, format: JSON_V2) { filename } }`, { id: secret.id }, token), 'NOT_FOUND');
  });

  it('gives back the same character after export and import, from every kind of card through every format', async () => {
    const sources: Array<[string, Buffer]> = [
      ['V1 JSON', Buffer.from(JSON.stringify(cardV1('Round V1')))],
      ['V2 JSON', Buffer.from(JSON.stringify(cardV2('Round V2')))],
      ['V3 JSON', Buffer.from(JSON.stringify(cardV3('Round V3')))],
      ['V2 PNG', await pngCard({ v2: cardV2('Round PNG2') })],
      ['V3 PNG', await pngCard({ v2: cardV2('Round PNG3'), v3: cardV3('Round PNG3') })],
      ['CHARX', (await charxCard('Round CHARX')).file],
    ];
    for (const [kind, file] of sources) {
      const first = await importCard(t, alice.token, file);
      for (const format of FORMATS) {
        const exported = await exportCard(t, alice.token, first.id, format);
        const again = await importCard(t, alice.token, exported.data);
        const expected = sameness(first);
        // JSON has no place for an image; PNG and CHARX carry it.
        if (format === 'JSON_V2' || format === 'JSON_V3') expected.hasImage = false;
        expect({ kind, format, ...sameness(again) }).toEqual({ kind, format, ...expected });
        // Unknown extension keys came through too.
        const v3 = JSON.parse((await exportCard(t, alice.token, again.id, 'JSON_V3')).data.toString('utf8'));
        expect({ kind, format, extensions: v3.data.extensions }).toEqual({ kind, format, extensions: kind === 'V1 JSON' ? {} : UNKNOWN_EXTENSIONS });
        expect({ kind, format, book: v3.data.character_book?.entries[0]?.extensions ?? null }).toEqual({
          kind,
          format,
          book: kind === 'V1 JSON' ? null : { position: 0, depth: 4, probability: 100, 'example-tool/entry': 'kept' },
        });
      }
    }
  });

  it('refuses broken, misshapen and oversized files with BAD_USER_INPUT, storing nothing', async () => {
    const charactersBefore = await ownCharacterIds(t, bob.token, bob.id);
    const booksBefore = await ownLorebookIds(t, bob.token);
    const png = await pngCard({ v2: cardV2('Broken') });
    const cases: Array<[string, string, string]> = [
      ['truncated PNG', png.subarray(0, png.length - 40).toString('base64'), 'not a valid PNG'],
      ['chunk not base64', withTextChunks(await picture('png'), [{ keyword: 'chara', text: '***not base64***' }]).toString('base64'), 'PNG chara chunk: is not base64'],
      ['PNG without a card', (await picture('png')).toString('base64'), 'without a character card'],
      ['wrong shape', base64(cardV2('Shape', { alternate_greetings: 'not a list' })), 'data.alternate_greetings: must be an array of strings'],
      ['unknown spec', base64({ spec: 'chara_card_v7', data: {} }), 'spec: must be'],
      ['not a card at all', Buffer.from('hello').toString('base64'), 'is not a character card'],
      ['not base64', '!!!', 'must be base64'],
      ['over 10 MiB', Buffer.alloc(10 * 1024 * 1024 + 1, 0x20).toString('base64'), 'must be at most 10485760 bytes'],
      ['201 alternate greetings', base64(cardV2('Chatty', { alternate_greetings: Array.from({ length: 201 }, (_, i) => `Hi ${i}`) })), 'data.alternate_greetings: at most 200'],
      ['1,001 lorebook entries', base64(cardV2('Lorey', { character_book: characterBook(1001) })), 'data.character_book.entries: at most 1000 entries'],
      ['a field too long', base64(cardV2('Verbose', { description: 'x'.repeat(10_001) })), 'data.description: must be at most 10000 characters'],
      ['a blank name', base64(cardV1('   ')), 'name: must not be empty'],
      ['a broken image in a CHARX', charx(cardV3('Pic', { assets: [{ type: 'icon', uri: 'embeded://a.png', name: 'main', ext: 'png' }] }), { 'a.png': Buffer.from('not an image') }).toString('base64'), 'file: must be a PNG'],
    ];
    for (const [kind, file, message] of cases) {
      const res = await t.gql(IMPORT, { input: { file } }, bob.token);
      expect({ kind, code: res.errors?.[0]?.extensions?.code }).toEqual({ kind, code: 'BAD_USER_INPUT' });
      expectFileRefused(res, message);
    }
    expect(await ownCharacterIds(t, bob.token, bob.id)).toEqual(charactersBefore);
    expect(await ownLorebookIds(t, bob.token)).toEqual(booksBefore);
    expectError(await t.gql(IMPORT, { input: { file: base64(cardV1()) } }), 'UNAUTHENTICATED');
  });

  it('creates and updates the new fields, checks their limits, and searches creator and creator notes', async () => {
    const word = uniqueName('inkwell').toLowerCase();
    const created = expectOk(
      await t.gql(`mutation($input: CharacterInput!) { createCharacter(input: $input) { ${CARD_CHARACTER_FIELDS} } }`, {
        input: { name: 'Author', alternateGreetings: ['One.', 'Two.'], postHistoryInstructions: 'Be brief.', creatorNotes: `Made with ${word}.`, creator: ' ada ', characterVersion: '2', visibility: 'PUBLIC' },
      }, alice.token),
    ).createCharacter;
    expect(created).toMatchObject({ alternateGreetings: ['One.', 'Two.'], postHistoryInstructions: 'Be brief.', creatorNotes: `Made with ${word}.`, creator: 'ada', characterVersion: '2', avatarUrl: null, lorebook: null });
    const byCreator = await createCharacter(t, alice.token, { name: 'Signed', creator: `${word}smith`, visibility: 'PUBLIC' });
    const search = async (text: string) =>
      expectOk(await t.gql(`query($s: String) { characters(first: 50, search: $s) { edges { node { id } } } }`, { s: text }, bob.token)).characters.edges.map((e: any) => e.node.id).sort();
    expect(await search(word)).toEqual([created.id, byCreator.id].sort());
    const updated = expectOk(await t.gql(`mutation($id: ID!, $input: CharacterUpdateInput!) { updateCharacter(id: $id, input: $input) { alternateGreetings creator characterVersion } }`, { id: created.id, input: { alternateGreetings: [], characterVersion: '3' } }, alice.token)).updateCharacter;
    expect(updated).toEqual({ alternateGreetings: [], creator: 'ada', characterVersion: '3' });
    const UPDATE = `mutation($id: ID!, $input: CharacterUpdateInput!) { updateCharacter(id: $id, input: $input) { id } }`;
    expectError(await t.gql(UPDATE, { id: created.id, input: { alternateGreetings: Array.from({ length: 201 }, () => 'x') } }, alice.token), 'BAD_USER_INPUT', 'alternateGreetings');
    expectError(await t.gql(UPDATE, { id: created.id, input: { creator: 'x'.repeat(201) } }, alice.token), 'BAD_USER_INPUT', 'creator');
    expectError(await t.gql(UPDATE, { id: created.id, input: { creatorNotes: 'x'.repeat(20_001) } }, alice.token), 'BAD_USER_INPUT', 'creatorNotes');
    expectError(await t.gql(UPDATE, { id: created.id, input: { avatar: 'R0lGODlhAQABAAAAACw=' } }, alice.token), 'BAD_USER_INPUT', 'avatar');
  });
});
