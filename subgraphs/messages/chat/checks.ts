/** What every chat action checks first: its conversation and character, the rate limit and the caller's credits. */
import type { Viewer } from '@chat/shared/auth';
import { conflict, contractError, ErrorCode, notFound } from '@chat/shared/errors';
import { rateLimited } from '@chat/shared/rate-limit';
import type { Context } from '../context';
import { ChatCharacterDocument } from '../generated/peers/characters';
import { ChatConversationDocument } from '../generated/peers/conversations';
import { ChatCreditsDocument } from '../generated/peers/users';
import type { GenerationJob } from '../generation/job';

/** The rate limit's window. */
export const RATE_WINDOW_MS = 60_000;

/** The conversation as the caller may chat in it: their own, active (unless `allowArchived`), with its character's persona. */
export async function chatTarget(ctx: Context, viewer: Viewer, conversationId: string, allowArchived = false): Promise<Omit<GenerationJob, 'replyId'>> {
  const { conversation } = await ctx.peers.conversations.call(ChatConversationDocument, { id: conversationId }, { actingFor: ctx });
  if (!conversation || conversation.user.id !== viewer.id) throw notFound('Conversation');
  if (conversation.status !== 'ACTIVE' && !allowArchived) throw conflict('The conversation is archived; unarchive it to chat.');
  const representations = [{ __typename: 'Character', id: conversation.character.id }];
  const [entity] = (await ctx.peers.characters.call(ChatCharacterDocument, { representations }, { actingFor: ctx }))._entities;
  if (entity?.__typename !== 'Character') throw notFound('Character');
  const { __typename, ...character } = entity;
  return { conversationId: conversation.id, userId: viewer.id, authorization: ctx.authorization, settings: conversation.settings, character };
}

/** A failure of our own infrastructure (e.g. Redis unreachable) that a retry may fix. */
export function unavailable(message: string) {
  return contractError(ErrorCode.INTERNAL_SERVER_ERROR, message, { retryable: true });
}

/** RATE_LIMITED past the per-minute limit, INSUFFICIENT_CREDITS at zero credits. */
export async function checkAllowance(ctx: Context, viewer: Viewer): Promise<void> {
  const decision = await ctx.rateLimiter.hit(`messages:${viewer.id}`, ctx.config.rateLimitMessagesPerMinute, RATE_WINDOW_MS).catch((err) => {
    // Rate limits and the queue share Redis: without it a message would be queued into nothing.
    ctx.log.error({ err }, 'rate limiter unavailable');
    throw unavailable('Chat is temporarily unavailable; please try again in a moment.');
  });
  if (!decision.allowed) throw rateLimited(decision, 'messages');
  const { me } = await ctx.peers.users.call(ChatCreditsDocument, {}, { actingFor: ctx });
  if (!me || me.credits <= 0) throw contractError(ErrorCode.INSUFFICIENT_CREDITS, 'You have no credits left.');
}
