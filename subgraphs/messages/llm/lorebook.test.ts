import { describe, expect, it } from '@jest/globals';
import { activeLoreEntries, evaluateLorebook, LOREBOOK_DEFAULTS, MAX_RECURSION_DEPTH, safeRegex, type LorebookEntry } from './lorebook';
import { countTokens } from './tokens';

/** An entry with the given keys and content, everything else as a book that does not say. */
const entry = (keys: string[], content: string, extra: Partial<LorebookEntry> = {}): LorebookEntry => ({ keys, content, enabled: true, ...extra });
const contents = (history: string[], entries: LorebookEntry[], book: object = {}) => evaluateLorebook({ entries, ...book }, history).map((e) => e.content);

describe('evaluateLorebook', () => {
  it('activates an entry by a primary key found in the history, case-insensitively, naming the key', () => {
    const active = evaluateLorebook({ entries: [entry(['castle', 'Keep'], 'The castle has three towers.'), entry(['dragon'], 'Dragons sleep.')] }, ['We ride to the KEEP.']);
    expect(active).toEqual([expect.objectContaining({ content: 'The castle has three towers.', activatedBy: 'Keep', position: 'BEFORE_CHARACTER' })]);
  });

  it('honours caseSensitive', () => {
    expect(contents(['the apple falls'], [entry(['Apple'], 'fruit', { caseSensitive: true })])).toEqual([]);
    expect(contents(['the Apple falls'], [entry(['Apple'], 'fruit', { caseSensitive: true })])).toEqual(['fruit']);
  });

  it('needs one secondary key too when selective', () => {
    const selective = entry(['sword'], 'The sword is cursed.', { selective: true, secondaryKeys: ['curse', 'hex'] });
    expect(contents(['I draw my sword.'], [selective])).toEqual([]);
    expect(contents(['I draw my sword; is it a HEX?'], [selective])).toEqual(['The sword is cursed.']);
    // Not selective: secondary keys are not required.
    expect(contents(['I draw my sword.'], [{ ...selective, selective: false }])).toEqual(['The sword is cursed.']);
  });

  it('always activates a constant entry and never a disabled one', () => {
    const active = evaluateLorebook({ entries: [entry([], 'Always here.', { constant: true }), entry(['tea'], 'Tea is hot.', { enabled: false, constant: true })] }, ['tea?']);
    expect(active).toEqual([expect.objectContaining({ content: 'Always here.', activatedBy: null })]);
  });

  it('scans only the last scanDepth messages (2 by default)', () => {
    const history = ['a dragon appears', 'hello', 'how are you'];
    expect(contents(history, [entry(['dragon'], 'Dragons sleep.')])).toEqual([]);
    expect(contents(history, [entry(['dragon'], 'Dragons sleep.')], { scanDepth: 3 })).toEqual(['Dragons sleep.']);
    expect(contents(history, [entry(['you'], 'x')], { scanDepth: 0 })).toEqual([]);
    expect(LOREBOOK_DEFAULTS.scanDepth).toBe(2);
  });

  it('scans active entries with recursiveScanning, only then, and to a bounded depth', () => {
    const chain = [entry(['castle'], 'The castle holds the crown.'), entry(['crown'], 'The crown is gold.'), entry(['gold'], 'Gold is rare.')];
    expect(contents(['to the castle'], chain)).toEqual(['The castle holds the crown.']);
    expect(contents(['to the castle'], chain, { recursiveScanning: true })).toEqual(['The castle holds the crown.', 'The crown is gold.', 'Gold is rare.']);
    const long = Array.from({ length: MAX_RECURSION_DEPTH + 3 }, (_, i) => entry([`k${i}`], `see k${i + 1}`));
    expect(contents(['k0'], long, { recursiveScanning: true })).toHaveLength(MAX_RECURSION_DEPTH + 1);
  });

  it('reads regex keys, plain or /pattern/flags, case-insensitive unless caseSensitive', () => {
    const regexEntry = (key: string, extra: Partial<LorebookEntry> = {}) => entry([key], 'matched', { useRegex: true, ...extra });
    expect(contents(['Swords and shields'], [regexEntry('\\bswords?\\b')])).toEqual(['matched']);
    expect(contents(['a swordfish'], [regexEntry('\\bswords?\\b')])).toEqual([]);
    expect(contents(['DRAGON'], [regexEntry('/drag(on|oon)/')])).toEqual(['matched']);
    expect(contents(['DRAGON'], [regexEntry('/dragon/i', { caseSensitive: true })])).toEqual([]);
    // Without useRegex the same text is a plain substring.
    expect(contents(['a \\bswords?\\b b'], [entry(['\\bswords?\\b'], 'literal')])).toEqual(['literal']);
  });

  it('refuses invalid and catastrophic regex keys quickly instead of throwing or hanging', () => {
    for (const key of ['(a+)+$', '(a|a)*$', '(.*){2,}x', '([a-z]+)*!', '(\\w+\\s?)+$', '(a)\\1', '[unclosed', 'x'.repeat(500)]) {
      expect(safeRegex(key, false)).toBeNull();
    }
    const started = Date.now();
    expect(contents(['a'.repeat(5_000) + '!'], [entry(['(a+)+$'], 'never', { useRegex: true }), entry(['[oops'], 'never', { useRegex: true })])).toEqual([]);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(safeRegex('dragon(s)?', false)?.flags).toBe('i');
  });

  it('keeps the highest priorities when the budget cuts, then orders by insertionOrder', () => {
    const text = 'word '.repeat(20).trim();
    const tokens = countTokens(text);
    const entries = [
      entry(['go'], `low ${text}`, { priority: 1, insertionOrder: 1 }),
      entry(['go'], `high ${text}`, { priority: 50, insertionOrder: 3 }),
      entry(['go'], `mid ${text}`, { priority: 20, insertionOrder: 2 }),
    ];
    const kept = contents(['go'], entries, { tokenBudget: 2 * tokens + 4 });
    expect(kept).toEqual([`mid ${text}`, `high ${text}`]);
    expect(contents(['go'], entries)).toHaveLength(3);
  });

  it('applies the default priority and insertion order, and positions as given', () => {
    const [first, second] = evaluateLorebook({ entries: [entry(['x'], 'late'), entry(['x'], 'early', { insertionOrder: 5, position: 'AFTER_CHARACTER' })] }, ['x']);
    expect(first).toMatchObject({ content: 'early', position: 'AFTER_CHARACTER', insertionOrder: 5, priority: LOREBOOK_DEFAULTS.priority });
    expect(second).toMatchObject({ content: 'late', insertionOrder: LOREBOOK_DEFAULTS.insertionOrder });
  });

  it("keeps the book's order between entries of equal insertion order, constant ones included", () => {
    expect(contents(['x'], [entry(['x'], 'first'), entry([], 'second', { constant: true }), entry(['x'], 'third')])).toEqual(['first', 'second', 'third']);
  });
});

describe('activeLoreEntries', () => {
  it("takes every book, each within its own budget, in insertion order with the character's book first on ties", () => {
    const own = { entries: [entry(['ship'], 'Own book.')] };
    const other = { entries: [entry(['ship'], 'Other book.'), entry(['ship'], 'Other first.', { insertionOrder: 1 })], tokenBudget: 100 };
    expect(activeLoreEntries([own, other], ['the ship']).map((e) => e.content)).toEqual(['Other first.', 'Own book.', 'Other book.']);
  });
});
