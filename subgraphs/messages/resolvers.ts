import { hostname } from 'node:os';
import { canAccess, requireViewer } from '@chat/shared/auth';
import { forbidden, notFound } from '@chat/shared/errors';
import { pageWindow, toConnection } from '@chat/shared/pagination';
import { cancelReply, conversationEvents, promptPreview, regenerateReply, sendMessage } from './chat';
import type { Context } from './context';
import type { Resolvers } from './generated/graphql';
import { messageCursor, type MessageRow } from './store';

/** The contract's names for the breaker's states. */
const BREAKER_STATES = { closed: 'CLOSED', open: 'OPEN', 'half-open': 'HALF_OPEN' } as const;

/** FORBIDDEN unless the caller is an admin. */
function requireAdmin(ctx: Context, what: string): void {
  if (requireViewer(ctx.viewer).role !== 'ADMIN') throw forbidden(`Only admins may ${what}.`);
}

/** True when the viewer may read the conversation's messages (its owner, or an admin). */
export async function mayRead(ctx: Context, conversationId: string): Promise<boolean> {
  const owner = await ctx.loaders.owner.load(conversationId);
  return owner !== null && canAccess(ctx.viewer, owner.user_id);
}

async function visibleMessage(ctx: Context, id: string): Promise<MessageRow | null> {
  const message = await ctx.loaders.message.load(id);
  return message && (await mayRead(ctx, message.conversation_id)) ? message : null;
}

const START_QUERY = /* GraphQL */ `
  query ConversationStart($id: ID!) { conversation(id: $id) { id user { id } character { id } } }`;
const GREETING_QUERY = /* GraphQL */ `
  query CharacterGreeting($reps: [_Any!]!) { _entities(representations: $reps) { ... on Character { greeting } } }`;

export const resolvers: Resolvers = {
  Query: {
    message: (_root, { id }, ctx) => visibleMessage(ctx, id),
    promptPreview: (_root, { conversationId }, ctx) => promptPreview(ctx, conversationId),
    async moderationPolicy(_root, _args, ctx) {
      requireAdmin(ctx, 'see the moderation policy');
      return { refuse: await ctx.store.moderationPolicy() };
    },
    async systemStatus(_root, _args, ctx) {
      requireAdmin(ctx, 'see the system status');
      const load = await ctx.generator.load();
      return {
        instance: `${hostname()}:${process.pid}`,
        queueDepth: load.waiting,
        jobsPending: load.pending,
        repliesInFlight: load.generating,
        openSubscriptions: ctx.sessions.openSubscriptions(),
        providers: [{ name: ctx.generator.provider.name, defaultModel: ctx.config.llm.model, breakerState: BREAKER_STATES[ctx.generator.provider.breakerState()] }],
        checkedAt: new Date(),
      };
    },
    async generationDeadLetters(_root, { first }, ctx) {
      requireAdmin(ctx, 'see dead letters');
      const { limit } = pageWindow({ first }, ['integer']);
      const letters = await ctx.generator.deadLetters(limit);
      return letters.map(({ job, deliveries, failedAt }) => ({ replyId: job.replyId, conversationId: job.conversationId, userId: job.userId, deliveries, failedAt }));
    },
  },
  Subscription: {
    conversationEvents: {
      subscribe: (_root, { conversationId }, ctx) => conversationEvents(ctx, conversationId, mayRead) as never,
      resolve: (event: unknown) => event as never,
    },
  },
  Mutation: {
    async recordConversationStart(_root, { conversationId }, ctx) {
      const viewer = requireViewer(ctx.viewer);
      const auth = { authorization: ctx.authorization };
      const { conversation } = await ctx.conversations.request<{
        conversation: { id: string; user: { id: string }; character: { id: string } } | null;
      }>(START_QUERY, { id: conversationId }, auth);
      if (!conversation || !canAccess(viewer, conversation.user.id)) throw notFound('Conversation');
      const { _entities } = await ctx.characters.request<{ _entities: Array<{ greeting: string } | null> }>(
        GREETING_QUERY,
        { reps: [{ __typename: 'Character', id: conversation.character.id }] },
        auth,
      );
      const greeting = _entities[0]?.greeting;
      if (greeting == null) throw notFound('Character');
      return ctx.store.recordStart(conversation.id, conversation.user.id, greeting);
    },
    async setModerationPolicy(_root, { refuse }, ctx) {
      requireAdmin(ctx, 'set the moderation policy');
      return { refuse: await ctx.store.setModerationPolicy([...new Set(refuse)]) };
    },
    sendMessage: (_root, { input }, ctx) => sendMessage(ctx, input),
    cancelReply: (_root, { messageId }, ctx) => cancelReply(ctx, messageId, mayRead),
    regenerateReply: (_root, { messageId }, ctx) => regenerateReply(ctx, messageId, mayRead),
  },
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
  },
};
