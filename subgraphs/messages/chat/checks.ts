/** What every chat action checks first: its conversation and character, that no reply is being written, room, and the rate limit (credits are held in credits.ts). */
import type { Viewer } from '@chat/shared/auth';
import { conflict, contractError, ErrorCode, notFound } from '@chat/shared/errors';
import { rateLimited } from '@chat/shared/rate-limit';
import type { Context } from '../context';
import { ChatConversationDocument } from '../generated/peers/conversations';
import type { GenerationJob } from '../generation/job';
import { REPLY_IN_PROGRESS } from '../store';
import { promptCharacter } from './prompt-sources';

/** The rate limit's window. */
export const RATE_WINDOW_MS = 60_000;

/** The most messages one conversation may hold, every branch together (the seeds' limit). */
export const MAX_MESSAGES_PER_CONVERSATION = 10_000;

/** The conversation as the caller may chat in it: their own, active (unless `allowArchived`), with what its prompts are built from. */
export async function chatTarget(ctx: Context, viewer: Viewer, conversationId: string, allowArchived = false): Promise<Omit<GenerationJob, 'replyId'>> {
  const { conversation } = await ctx.peers.conversations.call(ChatConversationDocument, { id: conversationId }, { actingFor: ctx.viewer });
  if (!conversation || conversation.user.id !== viewer.id) throw notFound('Conversation');
  if (conversation.status !== 'ACTIVE' && !allowArchived) throw conflict('The conversation is archived; unarchive it to chat.');
  const character = await promptCharacter(ctx, conversation);
  return { conversationId: conversation.id, userId: viewer.id, settings: conversation.settings, character };
}

/** A failure of our own infrastructure (e.g. Redis unreachable) that a retry may fix. */
export function unavailable(message: string) {
  return contractError(ErrorCode.INTERNAL_SERVER_ERROR, message, { retryable: true });
}

/** CONFLICT while a reply of the conversation is being written (checked again, under its lock, when the write is stored). */
export async function refuseWhileGenerating(ctx: Context, conversationId: string): Promise<void> {
  if (await ctx.store.isGenerating(conversationId)) throw conflict(REPLY_IN_PROGRESS);
}

/** CONFLICT when one more message would take the conversation past MAX_MESSAGES_PER_CONVERSATION (every branch counts). */
export async function refuseWhenFull(ctx: Context, conversationId: string, adding: number): Promise<void> {
  if ((await ctx.store.countStored(conversationId)) + adding > MAX_MESSAGES_PER_CONVERSATION) {
    throw conflict(`A conversation holds at most ${MAX_MESSAGES_PER_CONVERSATION} messages; start a new one.`);
  }
}

/** RATE_LIMITED past the per-minute limit. */
export async function checkRateLimit(ctx: Context, viewer: Viewer): Promise<void> {
  const decision = await ctx.rateLimiter.hit(`messages:${viewer.id}`, ctx.config.rateLimitMessagesPerMinute, RATE_WINDOW_MS).catch((err) => {
    // Rate limits and the queue share Redis: without it a message would be queued into nothing.
    ctx.log.error({ err }, 'rate limiter unavailable');
    throw unavailable('Chat is temporarily unavailable; please try again in a moment.');
  });
  if (!decision.allowed) throw rateLimited(decision, 'messages');
}
