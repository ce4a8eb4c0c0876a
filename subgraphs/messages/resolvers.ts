/** The messages subgraph's resolvers: each field hands over to the module that owns its behaviour. */
import { requireService } from '@chat/shared/identity';
import { pageWindow, toConnection } from '@chat/shared/pagination';
import { mayRead, visibleMessage } from './access';
import { generationDeadLetters, systemStatus } from './admin/status';
import { cancelReply } from './chat/cancel';
import { continueReply } from './chat/continue';
import { editMessage } from './chat/edit';
import { promptPreview } from './chat/preview';
import { regenerateReply } from './chat/regenerate';
import { usageReport, userUsage } from './analytics/usage';
import { exportConversation } from './export/export';
import { importConversation } from './export/import';
import { setConversationLanguage } from './search/language';
import { searchMessages } from './search/search';
import { createMessageTemplate, deleteMessageTemplate, messageTemplates, templateReference, updateMessageTemplate } from './templates/templates';
import { sendMessage } from './chat/send';
import { recordConversationStart } from './chat/start';
import { conversationEvents } from './chat/subscribe';
import type { Resolvers } from './generated/graphql';
import { catalogueResolvers, llmProviders } from './models/catalogue';
import { validateLlmSettings } from './models/validate';
import { runMessageRetention } from './lifecycle/run-retention';
import { recordConversationState } from './lifecycle/state';
import { moderationPolicy, setModerationPolicy } from './moderation/policy';
import { messageCursor } from './store';
import { deleteMessage, restoreMessage } from './tree/delete';
import { alternativeIndex, alternatives, messageTree, parent } from './tree/fields';
import { forkConversation } from './tree/fork';
import { selectAlternative } from './tree/select';
import { eraseUserData } from './erasure';

export const resolvers: Resolvers = {
  Query: {
    message: (_root, { id }, ctx) => visibleMessage(ctx, id),
    promptPreview: (_root, { conversationId }, ctx) => promptPreview(ctx, conversationId),
    searchMessages: (_root, args, ctx) => searchMessages(ctx, args),
    usageReport: (_root, args, ctx) => usageReport(ctx, args),
    exportConversation: (_root, { id, format }, ctx) => exportConversation(ctx, id, format),
    moderationPolicy: (_root, _args, ctx) => moderationPolicy(ctx),
    systemStatus: (_root, _args, ctx) => systemStatus(ctx),
    generationDeadLetters: (_root, { first }, ctx) => generationDeadLetters(ctx, first),
    llmProviders: (_root, _args, ctx) => llmProviders(ctx),
  },
  Subscription: {
    conversationEvents: {
      subscribe: (_root, { conversationId, after }, ctx) => conversationEvents(ctx, conversationId, after) as never,
      resolve: (event: unknown) => event as never,
    },
  },
  Mutation: {
    eraseUserData: (_root, { userId }, ctx) => eraseUserData(ctx, userId),
    // Internal: the conversations service, for the user starting a conversation; FORBIDDEN to anyone else.
    recordConversationState: (_root, args, ctx) => recordConversationState(ctx, args),
    runMessageRetention: (_root, { dryRun }, ctx) => runMessageRetention(ctx, dryRun),
    recordConversationStart: (_root, start, ctx) => {
      requireService(ctx, 'conversations');
      return recordConversationStart(ctx, start);
    },
    setConversationLanguage: (_root, { conversationId, language }, ctx) => setConversationLanguage(ctx, conversationId, language),
    setModerationPolicy: (_root, { refuse }, ctx) => setModerationPolicy(ctx, refuse),
    importConversation: (_root, { input }, ctx) => importConversation(ctx, input),
    createMessageTemplate: (_root, { name, content }, ctx) => createMessageTemplate(ctx, name, content),
    updateMessageTemplate: (_root, { id, name, content }, ctx) => updateMessageTemplate(ctx, id, name, content),
    deleteMessageTemplate: (_root, { id }, ctx) => deleteMessageTemplate(ctx, id),
    sendMessage: (_root, { input }, ctx) => sendMessage(ctx, input),
    cancelReply: (_root, { messageId }, ctx) => cancelReply(ctx, messageId),
    regenerateReply: (_root, { messageId }, ctx) => regenerateReply(ctx, messageId),
    editMessage: (_root, { messageId, content }, ctx) => editMessage(ctx, messageId, content),
    continueReply: (_root, { messageId }, ctx) => continueReply(ctx, messageId),
    selectAlternative: (_root, { messageId }, ctx) => selectAlternative(ctx, messageId),
    forkConversation: (_root, { messageId, title }, ctx) => forkConversation(ctx, messageId, title),
    deleteMessage: (_root, { messageId }, ctx) => deleteMessage(ctx, messageId),
    restoreMessage: (_root, { messageId }, ctx) => restoreMessage(ctx, messageId),
    validateLlmSettings: (_root, { settings }, ctx) => validateLlmSettings(ctx, settings),
  },
  ...catalogueResolvers,
  Conversation: {
    async __resolveReference(ref, ctx) {
      return (await mayRead(ctx, ref.id)) ? { id: ref.id } : null;
    },
    async messages(conversation, args, ctx) {
      const window = pageWindow(args, ['integer'], true);
      const rows = await ctx.store.page(conversation.id, window);
      for (const row of rows) ctx.loaders.message.prime(row.id, row);
      return toConnection(rows, window, messageCursor);
    },
    lastMessage: (conversation, _args, ctx) => ctx.loaders.lastMessage.load(conversation.id),
    messageCount: async (conversation, _args, ctx) => (await ctx.loaders.count.load(conversation.id))?.count ?? 0,
    messageTree: (conversation, args, ctx) => messageTree(conversation, args, ctx),
    stats: async (conversation, _args, ctx) => (await ctx.loaders.stats.load(conversation.id))!,
  },
  User: {
    __resolveReference: (ref) => ({ id: ref.id }),
    usage: (user, args, ctx) => userUsage(ctx, user.id, args),
    messageTemplates: (user, _args, ctx) => messageTemplates(ctx, user.id),
  },
  MessageTemplate: {
    __resolveReference: (ref, ctx) => templateReference(ctx, ref.id),
  },
  Message: {
    __resolveReference: (ref, ctx) => visibleMessage(ctx, ref.id),
    conversation: (m) => ({ id: m.conversation_id }),
    author: (m) => (m.author_id ? { id: m.author_id } : null),
    tokenUsage: (m) =>
      m.total_tokens == null
        ? null
        : { promptTokens: m.prompt_tokens ?? 0, completionTokens: m.completion_tokens ?? 0, totalTokens: m.total_tokens },
    finishReason: (m) => m.finish_reason,
    latencyMs: (m) => m.latency_ms,
    moderation: (m) => m.moderation_flags ?? [],
    createdAt: (m) => m.created_at,
    completedAt: (m) => m.completed_at,
    parent: (m, _args, ctx) => parent(m, ctx),
    alternatives: (m, _args, ctx) => alternatives(m, ctx),
    alternativeIndex: (m, _args, ctx) => alternativeIndex(m, ctx),
    deletedAt: (m) => m.deleted_at,
  },
};
