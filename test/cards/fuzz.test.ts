/**
 * Property-based fuzzing of what cards, lorebooks and personas take, through the real gateway
 * (fast-check, seeded: FUZZ_SEED, FUZZ_RUNS): damaged card files (cut short, bytes flipped, bytes
 * inserted) of every kind, card and lorebook JSON of random shapes, and random persona and lorebook
 * inputs. Every answer is below 500 with only BAD_USER_INPUT as an error, and a refused request
 * stored nothing the caller can see.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { startTestSystem, type TestSystem } from '../support/system';
import { START_TIMEOUT_MS } from '../e2e/helpers';
import { cardV1, cardV2, cardV3, charxCard, pngCard, worldInfo } from './fixtures';
import { IMPORT, ownCharacterIds, ownLorebookIds } from './helpers';

const SEED = Number(process.env.FUZZ_SEED ?? 20261205);
const RUNS = Number(process.env.FUZZ_RUNS ?? 30);
const PROPERTY_TIMEOUT_MS = 180_000;

/** A damage done to a file: cut it at a point, flip a byte, or insert bytes, at a position given as a fraction of its length. */
type Damage = { kind: 'cut'; at: number } | { kind: 'flip'; at: number; xor: number } | { kind: 'insert'; at: number; bytes: Uint8Array };
const damage: fc.Arbitrary<Damage> = fc.oneof(
  fc.record({ kind: fc.constant('cut' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
);

function damaged(file: Buffer, change: Damage): Buffer {
  const at = Math.min(file.length - 1, Math.floor(change.at * file.length));
  if (change.kind === 'cut') return file.subarray(0, at);
  if (change.kind === 'flip') {
    const copy = Buffer.from(file);
    copy[at] ^= change.xor;
    return copy;
  }
  return Buffer.concat([file.subarray(0, at), Buffer.from(change.bytes), file.subarray(at)]);
}

/** JSON of any shape, and card-like objects whose `data` holds random values under the specs' field names. */
const cardFieldNames = ['name', 'description', 'first_mes', 'mes_example', 'alternate_greetings', 'tags', 'extensions', 'character_book', 'assets', 'creator', 'group_only_greetings'];
const cardLike = fc.oneof(
  fc.jsonValue(),
  fc.record({
    spec: fc.constantFrom('chara_card_v2', 'chara_card_v3', 'lorebook_v3', 'chara_card_v9'),
    data: fc.dictionary(fc.constantFrom(...cardFieldNames), fc.jsonValue({ maxDepth: 3 })),
  }),
  fc.record({ entries: fc.oneof(fc.array(fc.dictionary(fc.constantFrom('keys', 'content', 'enabled', 'insertion_order', 'position'), fc.jsonValue({ maxDepth: 2 }))), fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }))) }),
);

describe('fuzzing card, lorebook and persona inputs through the gateway', () => {
  let t: TestSystem;
  let user: { token: string; id: string };
  let files: Buffer[];

  /** Posts and checks the answer: below 500, no error but BAD_USER_INPUT. */
  async function attempt(query: string, variables: Record<string, unknown>): Promise<{ ok: boolean; data: any }> {
    const res = await t.gql(query, variables, user.token);
    expect(res.status).toBeLessThan(500);
    const codes = (res.errors ?? []).map((e) => e.extensions?.code);
    expect(codes.filter((code) => code !== 'BAD_USER_INPUT')).toEqual([]);
    return { ok: codes.length === 0, data: res.data };
  }

  /** What the user sees of their own characters and books. */
  const observe = async () => ({ characters: await ownCharacterIds(t, user.token, user.id), books: await ownLorebookIds(t, user.token) });

  /** Runs `run` for each generated value; a refused one must leave `observe()` as it was. */
  async function property<T>(arbitrary: fc.Arbitrary<T>, run: (value: T) => Promise<boolean>): Promise<void> {
    await fc.assert(
      fc.asyncProperty(arbitrary, async (value) => {
        const before = await observe();
        if (!(await run(value))) expect(await observe()).toEqual(before);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  }

  beforeAll(async () => {
    t = await startTestSystem('pglite');
    user = await t.signUp('Fuzzer');
    files = [
      await pngCard({ v2: cardV2('Fuzz PNG') }),
      await pngCard({ v2: cardV2('Fuzz both'), v3: cardV3('Fuzz both') }),
      (await charxCard('Fuzz CHARX')).file,
      Buffer.from(JSON.stringify(cardV3('Fuzz JSON'))),
      Buffer.from(JSON.stringify(cardV1('Fuzz V1'))),
    ];
  }, START_TIMEOUT_MS);
  afterAll(() => t?.stop());

  it(
    'importCharacter: damaged card files of every kind',
    () =>
      property(fc.tuple(fc.nat(), damage), async ([which, change]) => {
        const file = damaged(files[which % files.length], change).toString('base64');
        return (await attempt(IMPORT, { input: { file } })).ok;
      }),
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'importCharacter and importLorebook: JSON of random shapes',
    () =>
      property(fc.tuple(cardLike, fc.boolean()), async ([json, asBook]) => {
        const file = Buffer.from(JSON.stringify(json) ?? 'null').toString('base64');
        if (asBook) return (await attempt(`mutation($file: String!) { importLorebook(file: $file) { id } }`, { file })).ok;
        return (await attempt(IMPORT, { input: { file } })).ok;
      }),
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'createLorebook, createPersona and a World Info entry: random texts and numbers',
    () =>
      property(
        fc.record({ text: fc.string({ maxLength: 300 }), unicode: fc.string({ unit: 'binary', maxLength: 50 }), number: fc.integer(), key: fc.string({ maxLength: 250 }) }),
        async ({ text, unicode, number, key }) => {
          const book = await attempt(`mutation($input: LorebookInput!) { createLorebook(input: $input) { id } }`, {
            input: { name: unicode || text, description: text, scanDepth: number, entries: [{ keys: [key], content: text, insertionOrder: number, priority: number }] },
          });
          const persona = await attempt(`mutation($input: PersonaInput!) { createPersona(input: $input) { id } }`, { input: { name: `${unicode}${text}`, description: text } });
          const info = worldInfo();
          Object.assign(info.entries['0'], { key: [key, unicode], content: text, order: number });
          const imported = await attempt(`mutation($file: String!) { importLorebook(file: $file) { id } }`, { file: Buffer.from(JSON.stringify(info)).toString('base64') });
          return book.ok || persona.ok || imported.ok;
        },
      ),
    PROPERTY_TIMEOUT_MS,
  );
});
