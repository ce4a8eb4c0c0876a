/** LorebookInput (createLorebook, updateLorebook) checked and turned into a book's fields. */
import { badInput } from '@chat/shared/errors';
import { LIMITS, text } from '@chat/shared/validate';
import type { LorebookEntryInput, LorebookInput, LorebookPosition } from '../generated/graphql';
import type { CardEntryPosition } from '../cards/spec';
import { checkLorebook, newEntry, type FieldNames, type LorebookEntryRecord, type LorebookFields } from './model';

/** The API's positions and the card spec's. */
export const POSITIONS: Record<LorebookPosition, CardEntryPosition> = { BEFORE_CHARACTER: 'before_char', AFTER_CHARACTER: 'after_char' };

/** LorebookInput's names, for refusals. */
const INPUT_NAMES: FieldNames = {
  name: 'name',
  description: 'description',
  scanDepth: 'scanDepth',
  tokenBudget: 'tokenBudget',
  entries: 'entries',
  keys: 'keys',
  secondaryKeys: 'secondaryKeys',
  content: 'content',
  comment: 'comment',
};

function entryFrom(input: LorebookEntryInput): LorebookEntryRecord {
  const given = Object.fromEntries(
    Object.entries({
      secondary_keys: input.secondaryKeys,
      selective: input.selective,
      constant: input.constant,
      enabled: input.enabled,
      case_sensitive: input.caseSensitive,
      use_regex: input.useRegex,
      insertion_order: input.insertionOrder,
      priority: input.priority,
      position: input.position == null ? undefined : POSITIONS[input.position],
      comment: input.comment,
    }).filter(([, value]) => value != null),
  );
  return newEntry({ keys: input.keys, content: input.content, ...given });
}

/**
 * A book's fields from the input: over `current` (an update), what the input leaves out stays, and
 * given entries replace all of them; extensions and what an import kept stay as they are.
 */
export function lorebookFromInput(input: LorebookInput, current?: LorebookFields): LorebookFields {
  const name = text('name', input.name, { min: 1, max: LIMITS.nameMax }).trim();
  const fields: LorebookFields = {
    name,
    description: input.description ?? current?.description ?? '',
    scan_depth: input.scanDepth ?? current?.scan_depth ?? null,
    token_budget: input.tokenBudget ?? current?.token_budget ?? null,
    recursive_scanning: input.recursiveScanning ?? current?.recursive_scanning ?? null,
    extensions: current?.extensions ?? {},
    extra: current?.extra ?? {},
    entries: input.entries ? input.entries.map(entryFrom) : (current?.entries ?? []),
  };
  return checkLorebook(fields, badInput, '', INPUT_NAMES);
}
