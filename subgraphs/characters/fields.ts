/**
 * A character's fields as clients and cards give them, checked against the limits (LIMITS) and
 * turned into storage fields. One set of rules for createCharacter, updateCharacter and imported
 * cards; refusals name the field as the caller knows it (`names`: the input's, or the card's paths).
 */
import { badInput } from '@chat/shared/errors';
import { LIMITS, optionalText, tags, text } from '@chat/shared/validate';
import { base64Bytes } from './base64';
import type { CharacterInput, CharacterUpdateInput } from './generated/graphql';
import { processImage } from './images/process';
import type { ImageChange } from './images/store';
import type { CharacterFields } from './store';

/** The checked input fields (all but the image and the visibility, which need no names). */
type NamedField = Exclude<keyof CharacterUpdateInput, 'avatar' | 'visibility'>;

/** How refusals name each field. */
export type FieldNames = Record<NamedField, string>;

/** The input's own names. */
export const INPUT_NAMES: FieldNames = {
  name: 'name',
  description: 'description',
  personality: 'personality',
  scenario: 'scenario',
  greeting: 'greeting',
  exampleDialogue: 'exampleDialogue',
  systemPrompt: 'systemPrompt',
  tags: 'tags',
  alternateGreetings: 'alternateGreetings',
  postHistoryInstructions: 'postHistoryInstructions',
  creatorNotes: 'creatorNotes',
  creator: 'creator',
  characterVersion: 'characterVersion',
};

const persona = { max: LIMITS.personaFieldMax };
const longPersona = { max: LIMITS.longPersonaFieldMax };

/** At most LIMITS.alternateGreetingsMax greetings, each a persona field. */
function greetings(field: string, value: string[] | null | undefined): string[] | undefined {
  if (value == null) return undefined;
  if (value.length > LIMITS.alternateGreetingsMax) throw badInput(field, `at most ${LIMITS.alternateGreetingsMax} alternate greetings (got ${value.length})`);
  return value.map((greeting, i) => text(`${field}[${i}]`, greeting, persona));
}

/** Checked storage fields from an update (only those given; null leaves a field as it is). */
export function validFields(input: CharacterUpdateInput, names: FieldNames = INPUT_NAMES): Partial<CharacterFields> {
  const fields: Partial<CharacterFields> = {
    name: input.name == null ? undefined : text(names.name, input.name, { min: 1, max: LIMITS.nameMax }).trim(),
    description: optionalText(names.description, input.description, persona),
    personality: optionalText(names.personality, input.personality, persona),
    scenario: optionalText(names.scenario, input.scenario, persona),
    greeting: optionalText(names.greeting, input.greeting, persona),
    example_dialogue: optionalText(names.exampleDialogue, input.exampleDialogue, longPersona),
    system_prompt: optionalText(names.systemPrompt, input.systemPrompt, longPersona),
    tags: tags(names.tags, input.tags),
    visibility: input.visibility ?? undefined,
    alternate_greetings: greetings(names.alternateGreetings, input.alternateGreetings),
    post_history_instructions: optionalText(names.postHistoryInstructions, input.postHistoryInstructions, longPersona),
    creator_notes: optionalText(names.creatorNotes, input.creatorNotes, { max: LIMITS.creatorNotesMax }),
    creator: optionalText(names.creator, input.creator, { max: LIMITS.creatorMax })?.trim(),
    character_version: optionalText(names.characterVersion, input.characterVersion, { max: LIMITS.characterVersionMax })?.trim(),
  };
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}

/** The greeting of a character whose greeting is missing or blank, so every conversation opens with one. */
export const defaultGreeting = (name: string) => `Hello! I'm ${name}.`;

/** A new character's fields; a missing greeting becomes a simple hello, the card's extensions and extras start empty. */
export function newFields(input: CharacterInput, names: FieldNames = INPUT_NAMES): CharacterFields {
  const given = validFields(input, names);
  const name = given.name!;
  return {
    name,
    description: given.description ?? '',
    personality: given.personality ?? '',
    scenario: given.scenario ?? '',
    greeting: given.greeting?.trim() ? given.greeting : defaultGreeting(name),
    example_dialogue: given.example_dialogue ?? '',
    system_prompt: given.system_prompt ?? '',
    tags: given.tags ?? [],
    visibility: given.visibility ?? 'PRIVATE',
    alternate_greetings: given.alternate_greetings ?? [],
    post_history_instructions: given.post_history_instructions ?? '',
    creator_notes: given.creator_notes ?? '',
    creator: given.creator ?? '',
    character_version: given.character_version ?? '',
    card_extensions: {},
    card_extra: {},
  };
}

/** The field images arrive in. */
export const AVATAR_FIELD = 'avatar';

/** What `avatar` asks of the character's image: nothing (absent), a new one (base64), or none (an empty string). */
export async function avatarChange(avatar: string | null | undefined): Promise<ImageChange> {
  if (avatar == null) return undefined;
  if (avatar.trim() === '') return null;
  const bytes = base64Bytes(avatar, LIMITS.cardFileBytesMax, (why) => badInput(AVATAR_FIELD, why));
  return processImage(bytes, AVATAR_FIELD);
}
