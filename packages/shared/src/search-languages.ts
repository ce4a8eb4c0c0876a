/**
 * The languages a conversation's messages can be searched in: PostgreSQL's built-in text search configurations
 * (stemming and stop words of that language), present on every server version we run and in PGlite. `simple`, the
 * default, folds case and nothing else, and suits any language.
 */
import { badInput } from './errors';

export const DEFAULT_SEARCH_LANGUAGE = 'simple';

export const SEARCH_LANGUAGES: readonly string[] = [
  'simple',
  'arabic',
  'danish',
  'dutch',
  'english',
  'finnish',
  'french',
  'german',
  'greek',
  'hungarian',
  'indonesian',
  'irish',
  'italian',
  'lithuanian',
  'nepali',
  'norwegian',
  'portuguese',
  'romanian',
  'russian',
  'spanish',
  'swedish',
  'tamil',
  'turkish',
];

/** The language as PostgreSQL names it, or BAD_USER_INPUT naming the field and the choices. */
export function searchLanguage(field: string, value: string): string {
  const language = value.trim().toLowerCase();
  if (!SEARCH_LANGUAGES.includes(language)) throw badInput(field, `must be one of ${SEARCH_LANGUAGES.join(', ')}`);
  return language;
}
