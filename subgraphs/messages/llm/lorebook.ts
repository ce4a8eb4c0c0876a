/**
 * Lorebook evaluation (World Info): which entries of the character's book and the conversation's books enter a
 * prompt, in what order and where, given the recent history. Pure: no I/O, token counts from ./tokens.
 */
import { countTokens } from './tokens';

/** What a book means when it does not say (the characters subgraph's defaults as well). */
export const LOREBOOK_DEFAULTS = { scanDepth: 2, tokenBudget: 2048, recursiveScanning: false, priority: 10, insertionOrder: 100 } as const;
/** Rounds of recursive scanning at most: entries activated by entries activated by … the history, this deep. */
export const MAX_RECURSION_DEPTH = 3;
/** Longest regex key compiled; longer ones never match (a card is untrusted input). */
export const MAX_REGEX_KEY_LENGTH = 200;
/** Most characters of scanned text a regex key is run over, so one pattern's cost stays bounded. */
export const MAX_REGEX_SCAN_CHARS = 20_000;
/** A group holding a quantifier or an alternation, itself repeated (`(a+)+`, `(a|a)*`, `(.*){2,}`): the shape of catastrophic backtracking. */
const NESTED_QUANTIFIER = /\((?:[^()\\]|\\.)*[+*}|](?:[^()\\]|\\.)*\)\s*(?:[+*]|\{\d+,\d*\})/;
/** A back-reference, which makes matching exponential in the worst case. */
const BACK_REFERENCE = /\\[1-9]|\\k</;
/** `/pattern/flags`, as SillyTavern writes regex keys. */
const SLASHED_REGEX = /^\/(.+)\/([a-z]*)$/s;

/** Where an entry goes, relative to the character's description in the system message. */
export type LorebookPosition = 'BEFORE_CHARACTER' | 'AFTER_CHARACTER';

/** An entry as the characters subgraph gives it (numbers may be missing: the defaults apply). */
export interface LorebookEntry {
  keys: readonly string[];
  secondaryKeys?: readonly string[] | null;
  selective?: boolean | null;
  constant?: boolean | null;
  enabled?: boolean | null;
  caseSensitive?: boolean | null;
  useRegex?: boolean | null;
  insertionOrder?: number | null;
  priority?: number | null;
  position?: LorebookPosition | null;
  content: string;
}

/** A book's scanning rules and entries. */
export interface Lorebook {
  scanDepth?: number | null;
  tokenBudget?: number | null;
  recursiveScanning?: boolean | null;
  entries: readonly LorebookEntry[];
}

/** An entry that enters the prompt. */
export interface ActiveEntry {
  content: string;
  position: LorebookPosition;
  /** The key that activated it; null for a constant entry. */
  activatedBy: string | null;
  insertionOrder: number;
  priority: number;
  tokens: number;
}

/** A key compiled into a test over text; one that cannot be compiled safely never matches. */
type Matcher = (text: string) => boolean;

/** The matcher of one key: a substring (case-insensitive unless `caseSensitive`), or a guarded regular expression. */
export function keyMatcher(key: string, caseSensitive: boolean, useRegex: boolean): Matcher {
  if (!useRegex) {
    if (key === '') return () => false;
    if (caseSensitive) return (text) => text.includes(key);
    const lower = key.toLowerCase();
    return (text) => text.toLowerCase().includes(lower);
  }
  const regex = safeRegex(key, caseSensitive);
  return regex ? (text) => regex.test(text.slice(-MAX_REGEX_SCAN_CHARS)) : () => false;
}

/** `key` as a RegExp (plain, or `/pattern/flags`), or null when it is too long, of a catastrophic shape, or invalid. */
export function safeRegex(key: string, caseSensitive: boolean): RegExp | null {
  const slashed = SLASHED_REGEX.exec(key);
  const pattern = slashed ? slashed[1] : key;
  if (pattern === '' || pattern.length > MAX_REGEX_KEY_LENGTH || NESTED_QUANTIFIER.test(pattern) || BACK_REFERENCE.test(pattern)) return null;
  // Stateless tests only (no g/y), and the entry's own case rule wins over the key's flags.
  const flags = new Set((slashed?.[2] ?? '').replace(/[gyi]/g, '').split('').filter((flag) => 'msu'.includes(flag)));
  if (!caseSensitive) flags.add('i');
  try {
    return new RegExp(pattern, [...flags].join(''));
  } catch {
    return null;
  }
}

/** The first key of `keys` found in `text`, or null. */
function firstMatch(keys: readonly string[], entry: LorebookEntry, text: string): string | null {
  return keys.find((key) => keyMatcher(key, !!entry.caseSensitive, !!entry.useRegex)(text)) ?? null;
}

/** What activates `entry` in `text`: its matching primary key (with, when selective, a matching secondary key), or null. */
function activation(entry: LorebookEntry, text: string): string | null {
  const key = firstMatch(entry.keys, entry, text);
  if (key === null) return null;
  const secondary = entry.secondaryKeys ?? [];
  if (entry.selective && secondary.length > 0 && firstMatch(secondary, entry, text) === null) return null;
  return key;
}

/** The active entries of one book for the last messages `history` (oldest first), within its token budget. */
export function evaluateLorebook(book: Lorebook, history: readonly string[]): ActiveEntry[] {
  const scanDepth = book.scanDepth ?? LOREBOOK_DEFAULTS.scanDepth;
  const budget = book.tokenBudget ?? LOREBOOK_DEFAULTS.tokenBudget;
  const recursive = book.recursiveScanning ?? LOREBOOK_DEFAULTS.recursiveScanning;
  const candidates = book.entries.filter((entry) => entry.enabled !== false && entry.content.trim() !== '');
  const activatedBy = new Map<LorebookEntry, string | null>();
  for (const entry of candidates) if (entry.constant) activatedBy.set(entry, null);

  let scanned = scanDepth > 0 ? history.slice(-scanDepth).join('\n') : '';
  for (let round = 0; round <= (recursive ? MAX_RECURSION_DEPTH : 0); round += 1) {
    const found = candidates.filter((entry) => !activatedBy.has(entry)).flatMap((entry) => {
      const key = activation(entry, scanned);
      return key === null ? [] : [[entry, key] as const];
    });
    if (found.length === 0) break;
    for (const [entry, key] of found) activatedBy.set(entry, key);
    // Only what this round activated is new text to scan for the next one.
    scanned = found.map(([entry]) => entry.content).join('\n');
  }

  // In the book's order, so entries of equal insertion order keep it.
  const active = candidates.filter((entry) => activatedBy.has(entry)).map((entry) => toActive(entry, activatedBy.get(entry) ?? null));
  return withinBudget(active, budget);
}

/** Highest priority first (earlier insertion order on ties), each kept while it fits the budget; returned in insertion order. */
function withinBudget(active: readonly ActiveEntry[], budget: number): ActiveEntry[] {
  const byPriority = [...active].sort((a, b) => b.priority - a.priority || a.insertionOrder - b.insertionOrder);
  const kept = new Set<ActiveEntry>();
  let left = budget;
  for (const entry of byPriority) {
    if (entry.tokens > left) continue;
    kept.add(entry);
    left -= entry.tokens;
  }
  return active.filter((entry) => kept.has(entry)).sort((a, b) => a.insertionOrder - b.insertionOrder);
}

function toActive(entry: LorebookEntry, activatedBy: string | null): ActiveEntry {
  const content = entry.content.trim();
  return {
    content,
    position: entry.position ?? 'BEFORE_CHARACTER',
    activatedBy,
    insertionOrder: entry.insertionOrder ?? LOREBOOK_DEFAULTS.insertionOrder,
    priority: entry.priority ?? LOREBOOK_DEFAULTS.priority,
    tokens: countTokens(content),
  };
}

/**
 * The active entries of every book (the character's own first, then the conversation's), each book within its own
 * budget, all in insertion order (earlier books first on ties).
 */
export function activeLoreEntries(books: readonly Lorebook[], history: readonly string[]): ActiveEntry[] {
  return books.flatMap((book) => evaluateLorebook(book, history)).sort((a, b) => a.insertionOrder - b.insertionOrder);
}
