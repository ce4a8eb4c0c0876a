import { requireViewer } from '@chat/shared/auth';
import { notFound } from '@chat/shared/errors';
import { requireService } from '@chat/shared/identity';
import { pageWindow, toConnection } from '@chat/shared/pagination';
import { LIMITS, optionalText } from '@chat/shared/validate';
import { editableCharacter, mayView } from './access';
import { cardMutations } from './cards/resolvers';
import { avatarChange, defaultGreeting, newFields, validFields } from './fields';
import type { Resolvers } from './generated/graphql';
import { Lorebook, LorebookEntry, lorebookMutations, lorebookQueries } from './lorebooks/resolvers';
import { characterCursor, type CharacterRow } from './store';
import { eraseUserData } from './erasure';

/** The fields a prompt is built from (the description, a public summary, is not one). */
type PromptField = 'personality' | 'scenario' | 'greeting' | 'example_dialogue' | 'system_prompt' | 'post_history_instructions' | 'alternate_greetings';

/**
 * A prompt field's resolver: once the character is deleted nobody reads its prompt (not even those
 * who still see it in their conversations); the contract's non-null types make that empty.
 */
const promptField =
  <F extends PromptField>(field: F) =>
  (character: CharacterRow): CharacterRow[F] =>
    (character.deleted_at ? (Array.isArray(character[field]) ? [] : '') : character[field]) as CharacterRow[F];

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
    ...lorebookQueries,
  },
  Mutation: {
    eraseUserData: (_root, { userId }, ctx) => eraseUserData(ctx, userId),
    async createCharacter(_root, { input }, ctx) {
      const viewer = requireViewer(ctx.viewer);
      const fields = newFields(input);
      const image = await avatarChange(input.avatar);
      return ctx.store.create(viewer.id, fields, { image: image ?? undefined });
    },
    async updateCharacter(_root, { id, input }, ctx) {
      const current = await editableCharacter(ctx, id);
      const fields = validFields(input);
      if (fields.greeting !== undefined && !fields.greeting.trim()) fields.greeting = defaultGreeting(fields.name ?? current.name);
      const updated = await ctx.store.update(id, fields, await avatarChange(input.avatar));
      if (!updated) throw notFound('Character');
      return updated;
    },
    async deleteCharacter(_root, { id }, ctx) {
      await editableCharacter(ctx, id);
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
    ...cardMutations,
    ...lorebookMutations,
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
    postHistoryInstructions: promptField('post_history_instructions'),
    alternateGreetings: promptField('alternate_greetings'),
    creatorNotes: (c) => c.creator_notes,
    characterVersion: (c) => c.character_version,
    avatarUrl: (c, _args, ctx) => (c.image_etag ? ctx.imageUrls.url(c.id, c.image_etag, c.visibility === 'PUBLIC' && !c.deleted_at) : null),
    lorebook: (c, _args, ctx) => (c.deleted_at ? null : ctx.loaders.characterLorebook.load(c.id)),
    owner: (c) => ({ id: c.owner_id }),
    createdAt: (c) => c.created_at,
    updatedAt: (c) => c.updated_at,
  },
  Lorebook,
  LorebookEntry,
};
