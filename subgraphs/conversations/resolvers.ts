import { canAccess, requireViewer } from '@chat/shared/auth';
import { badInput, forbidden, notFound } from '@chat/shared/errors';
import { requireService } from '@chat/shared/identity';
import { pageWindow, toConnection } from '@chat/shared/pagination';
import { LIMITS, tags, text } from '@chat/shared/validate';
import { checkLorebooks, checkPersona } from './attachments';
import type { Context } from './context';
import { recordFork } from './fork';
import { recordImport } from './import';
import { languageOf, syncLanguage } from './search-language';
import { lifecycleMutations } from './lifecycle/lifecycle';
import { retentionMutations } from './lifecycle/retention';
import { expandGreetings, userName } from './greeting';
import type { Resolvers } from './generated/graphql';
import { RecordCharacterUseDocument } from './generated/peers/characters';
import { RecordConversationStartDocument } from './generated/peers/messages';
import { mergeSettings, providerOf, startSettings } from './settings';
import { conversationCursor, type ConversationRow, type ConversationsStore } from './store';
import { eraseUserData } from './erasure';

/** A conversation the viewer owns (or, as admin, may manage); NOT_FOUND otherwise. */
async function owned(ctx: Context, id: string): Promise<ConversationRow> {
  const viewer = requireViewer(ctx.viewer);
  const conversation = await ctx.loaders.conversation.load(id);
  if (!conversation || !canAccess(viewer, conversation.user_id)) throw notFound('Conversation');
  return conversation;
}

async function change(ctx: Context, id: string, changes: Parameters<ConversationsStore['update']>[1]): Promise<ConversationRow> {
  await owned(ctx, id);
  const updated = await ctx.store.update(id, changes);
  if (!updated) throw notFound('Conversation');
  return updated;
}

export const resolvers: Resolvers = {
  Query: {
    async conversation(_root, { id }, ctx) {
      const conversation = await ctx.loaders.conversation.load(id);
      return conversation && canAccess(ctx.viewer, conversation.user_id) ? conversation : null;
    },
  },
  Mutation: {
    eraseUserData: (_root, { userId }, ctx) => eraseUserData(ctx, userId),
    async startConversation(_root, { input }, ctx) {
      const viewer = requireViewer(ctx.viewer);
      const title = input.title == null ? undefined : text('title', input.title, { min: 1, max: LIMITS.titleMax }).trim();
      const conversationTags = tags('tags', input.tags) ?? [];
      const settings = await startSettings(ctx, viewer, input.settings);
      // Checked before the character records its new user: a refusal leaves nothing behind.
      const [personaId, lorebookIds] = await Promise.all([
        checkPersona(ctx, viewer, viewer.id, input.personaId ?? null),
        checkLorebooks(ctx, viewer, viewer.id, input.lorebookIds ?? []),
      ]);
      const [{ recordCharacterUse: character }, user] = await Promise.all([
        ctx.peers.characters.call(RecordCharacterUseDocument, { characterId: input.characterId }, { actingFor: viewer }),
        userName(ctx, viewer, viewer.id, personaId),
      ]);
      if (!character) throw notFound('Character');
      const conversation = await ctx.store.create({
        user_id: viewer.id,
        character_id: character.id,
        title: title ?? `Chat with ${character.name}`.slice(0, LIMITS.titleMax),
        tags: conversationTags,
        settings,
        persona_id: personaId,
        lorebook_ids: lorebookIds,
      });
      try {
        // The greeting is the messages subgraph's to store; without it the conversation is not started.
        const start = { conversationId: conversation.id, userId: conversation.user_id, characterId: character.id, language: languageOf(settings), ...expandGreetings(character, user) };
        await ctx.peers.messages.call(RecordConversationStartDocument, start, { actingFor: viewer });
      } catch (error) {
        await ctx.store.remove(conversation.id);
        throw error;
      }
      return conversation;
    },
    async updateConversation(_root, args, ctx) {
      const current = await owned(ctx, args.id);
      const viewer = requireViewer(ctx.viewer);
      // The persona and lorebooks must be the conversation's user's (an admin changing it picks among theirs).
      const [personaId, lorebookIds] = await Promise.all([
        args.personaId !== undefined ? checkPersona(ctx, viewer, current.user_id, args.personaId) : undefined,
        args.lorebookIds != null ? checkLorebooks(ctx, viewer, current.user_id, args.lorebookIds) : undefined,
      ]);
      const settings = args.settings != null ? await mergeSettings(ctx, viewer, current.settings, args.settings) : undefined;
      if (settings) await syncLanguage(ctx, viewer, args.id, current.settings, settings);
      return change(ctx, args.id, {
        ...(args.title != null ? { title: text('title', args.title, { min: 1, max: LIMITS.titleMax }).trim() } : {}),
        ...(args.tags != null ? { tags: tags('tags', args.tags) } : {}),
        ...(settings ? { settings } : {}),
        ...(personaId !== undefined ? { persona_id: personaId } : {}),
        ...(lorebookIds !== undefined ? { lorebook_ids: lorebookIds } : {}),
      });
    },
    ...lifecycleMutations,
    ...retentionMutations,
    // Internal: the messages service, for the user who sent a message; FORBIDDEN to anyone else.
    async recordActivity(_root, { conversationId }, ctx) {
      requireService(ctx, 'messages');
      await owned(ctx, conversationId);
      await ctx.store.touch(conversationId);
      return true;
    },
    // Internal: the messages service, for the subscriber whose leaving ended a chat session; FORBIDDEN to anyone else.
    async recordSession(_root, { input }, ctx) {
      requireService(ctx, 'messages');
      await owned(ctx, input.conversationId);
      const counts = [input.messageCount, input.totalTokens];
      if (counts.some((n) => !Number.isInteger(n) || n < 0)) throw badInput('input', 'counts must be whole numbers >= 0');
      const startedAt = new Date(input.startedAt);
      const endedAt = new Date(input.endedAt);
      if (Number.isNaN(startedAt.getTime()) || Number.isNaN(endedAt.getTime()) || endedAt < startedAt) throw badInput('input', 'startedAt and endedAt must be ordered date-times');
      await ctx.store.recordSession(input.conversationId, { startedAt, endedAt, messageCount: input.messageCount, totalTokens: input.totalTokens });
      return true;
    },
    recordFork: (_root, request, ctx) => recordFork(ctx, request),
    recordImport: (_root, request, ctx) => recordImport(ctx, request, (viewer) => startSettings(ctx, viewer, null)),
  },
  ConversationSettings: {
    provider: (settings, _args, ctx) => providerOf(ctx, settings),
    language: (settings) => languageOf(settings),
  },
  Conversation: {
    async __resolveReference(ref, ctx) {
      const conversation = await ctx.loaders.conversation.load(ref.id);
      return conversation && canAccess(ctx.viewer, conversation.user_id) ? conversation : null;
    },
    user: (c) => ({ id: c.user_id }),
    character: (c) => ({ id: c.character_id }),
    persona: (c) => (c.persona_id ? { id: c.persona_id } : null),
    lorebooks: (c) => c.lorebook_ids.map((id) => ({ id })),
    createdAt: (c) => c.created_at,
    updatedAt: (c) => c.updated_at,
    lastActivityAt: (c) => c.last_activity_at,
    statistics: (c) => ({
      messageCount: c.stats_message_count,
      totalTokens: c.stats_total_tokens,
      sessionCount: c.session_count,
      totalSessionSeconds: c.total_session_seconds,
      lastSessionEndedAt: c.last_session_ended_at,
    }),
  },
  User: {
    __resolveReference: (ref) => ({ id: ref.id }),
    async conversations(user, args, ctx) {
      const viewer = requireViewer(ctx.viewer);
      if (!canAccess(viewer, user.id)) throw forbidden("Only a user's own conversations can be listed.");
      const window = pageWindow(args, ['timestamp', 'uuid']);
      const rows = await ctx.store.listByUser(user.id, window, args.status ?? undefined);
      for (const row of rows) ctx.loaders.conversation.prime(row.id, row);
      return toConnection(rows, window, conversationCursor);
    },
  },
};
