import { canAccess, requireViewer, type Viewer } from '@chat/shared/auth';
import { forbidden, notFound } from '@chat/shared/errors';
import { requireService } from '@chat/shared/identity';
import { pageWindow, toConnection } from '@chat/shared/pagination';
import { LIMITS, optionalText, tags, text } from '@chat/shared/validate';
import type { Context } from './context';
import type { CharacterInput, CharacterUpdateInput, Resolvers } from './generated/graphql';
import { characterCursor, type CharacterFields, type CharacterRow } from './store';

/** Who may see a character by its visibility alone: anyone when public, else its owner and admins. */
export function canSee(viewer: Viewer | null, character: CharacterRow): boolean {
  return character.visibility === 'PUBLIC' || canAccess(viewer, character.owner_id);
}

/**
 * Who may see a character: those of `canSee`, and users who started a conversation with it while
 * they could see it, so that an owner making it private does not take it from their conversations.
 * Once deleted (seen only as an entity, from conversations), being public counts for nothing: only
 * those users, its owner and admins still see it. Lists and search go by `canSee` alone.
 */
async function mayView(ctx: Context, character: CharacterRow): Promise<boolean> {
  const byRole = character.deleted_at ? canAccess(ctx.viewer, character.owner_id) : canSee(ctx.viewer, character);
  return byRole || (await ctx.loaders.audience.load(character.id)) !== null;
}

/** The persona fields a prompt is built from (the description, a public summary, is not one). */
type PromptField = 'personality' | 'scenario' | 'greeting' | 'example_dialogue' | 'system_prompt';

/**
 * A prompt field's resolver: once the character is deleted nobody reads its prompt (not even those
 * who still see it in their conversations); the contract's String! makes that an empty string.
 */
const promptField = (field: PromptField) => (character: CharacterRow) => (character.deleted_at ? '' : character[field]);

const persona = { max: LIMITS.personaFieldMax };
const longPersona = { max: LIMITS.longPersonaFieldMax };

/** Validated storage fields from an update (only those given). */
function validFields(input: CharacterUpdateInput): Partial<CharacterFields> {
  const fields: Partial<CharacterFields> = {
    name: input.name == null ? undefined : text('name', input.name, { min: 1, max: LIMITS.nameMax }).trim(),
    description: optionalText('description', input.description, persona),
    personality: optionalText('personality', input.personality, persona),
    scenario: optionalText('scenario', input.scenario, persona),
    greeting: optionalText('greeting', input.greeting, persona),
    example_dialogue: optionalText('exampleDialogue', input.exampleDialogue, longPersona),
    system_prompt: optionalText('systemPrompt', input.systemPrompt, longPersona),
    tags: tags('tags', input.tags),
    visibility: input.visibility ?? undefined,
  };
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}

/** The greeting of a character whose greeting is missing or blank, so every conversation opens with one. */
const defaultGreeting = (name: string) => `Hello! I'm ${name}.`;

/** A new character's fields; a missing greeting becomes a simple hello. */
function newFields(input: CharacterInput): CharacterFields {
  const given = validFields(input);
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
  };
}

/** A live character the viewer may change; NOT_FOUND when missing or hidden, FORBIDDEN when visible but not theirs. */
async function editable(ctx: Context, id: string): Promise<CharacterRow> {
  const viewer = requireViewer(ctx.viewer);
  const character = await ctx.loaders.character.load(id);
  if (!character || character.deleted_at || !(await mayView(ctx, character))) throw notFound('Character');
  if (!canAccess(viewer, character.owner_id)) throw forbidden('Only its owner and admins may change a character.');
  return character;
}

export const resolvers: Resolvers = {
  Query: {
    async character(_root, { id }, ctx) {
      const character = await ctx.loaders.character.load(id);
      return character && !character.deleted_at && (await mayView(ctx, character)) ? character : null;
    },
    async characters(_root, args, ctx) {
      const window = pageWindow(args, ['timestamp', 'uuid']);
      const search = optionalText('search', args.search, { max: LIMITS.nameMax })?.trim() || undefined;
      const tag = optionalText('tag', args.tag, { max: LIMITS.tagMax })?.trim() || undefined;
      const scope = { viewerId: ctx.viewer?.id ?? null, admin: ctx.viewer?.role === 'ADMIN' };
      const rows = await ctx.store.list(scope, window, { search, tag });
      for (const row of rows) ctx.loaders.character.prime(row.id, row);
      return toConnection(rows, window, characterCursor);
    },
  },
  Mutation: {
    async createCharacter(_root, { input }, ctx) {
      const viewer = requireViewer(ctx.viewer);
      return ctx.store.create(viewer.id, newFields(input));
    },
    async updateCharacter(_root, { id, input }, ctx) {
      const current = await editable(ctx, id);
      const fields = validFields(input);
      if (input.name === null) delete fields.name;
      if (fields.greeting !== undefined && !fields.greeting.trim()) fields.greeting = defaultGreeting(fields.name ?? current.name);
      const updated = await ctx.store.update(id, fields);
      if (!updated) throw notFound('Character');
      return updated;
    },
    async deleteCharacter(_root, { id }, ctx) {
      await editable(ctx, id);
      return ctx.store.softDelete(id);
    },
    // Internal: the conversations service, for the user starting a conversation; FORBIDDEN to anyone else.
    async recordCharacterUse(_root, { characterId }, ctx) {
      const viewer = requireService(ctx, 'conversations');
      const character = await ctx.loaders.character.load(characterId);
      if (!character || character.deleted_at || !(await mayView(ctx, character))) return null;
      if (character.owner_id !== viewer.id) await ctx.store.addToAudience(character.id, viewer.id);
      return character;
    },
  },
  Character: {
    async __resolveReference(ref, ctx) {
      const character = await ctx.loaders.character.load(ref.id);
      return character && (await mayView(ctx, character)) ? character : null;
    },
    personality: promptField('personality'),
    scenario: promptField('scenario'),
    greeting: promptField('greeting'),
    exampleDialogue: promptField('example_dialogue'),
    systemPrompt: promptField('system_prompt'),
    owner: (c) => ({ id: c.owner_id }),
    createdAt: (c) => c.created_at,
    updatedAt: (c) => c.updated_at,
  },
};
