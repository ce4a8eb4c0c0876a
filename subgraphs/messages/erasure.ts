/**
 * The messages subgraph's part of erasing a user (deleteAccount's saga, driven by the users
 * subgraph): every row of theirs, in the order they go. A new table holding a user's rows is one
 * more line in MESSAGES_ERASURE; Redis keys naming them, one more pattern in rateLimitKeys.
 */
import type { TableErasure } from '@chat/shared/erasure';
import { badInput } from '@chat/shared/errors';
import { requireService } from '@chat/shared/identity';
import { isUuid } from '@chat/shared/validate';
import type { Context } from './context';

/** The user's conversations, as this subgraph knows them (through their owner rows). */
const THEIR_CONVERSATIONS = { table: 'conversation_owners', column: 'user_id', key: 'conversation_id' } as const;

/** The user's rows, children before the rows they reference. */
export const MESSAGES_ERASURE: readonly TableErasure[] = [
  { table: 'credit_settlements', column: 'user_id' },
  { table: 'conversation_summaries', column: 'conversation_id', via: THEIR_CONVERSATIONS },
  { table: 'conversation_sessions', column: 'conversation_id', via: THEIR_CONVERSATIONS },
  { table: 'message_templates', column: 'user_id' },
  { table: 'messages', column: 'conversation_id', via: THEIR_CONVERSATIONS },
  { table: 'conversation_owners', column: 'user_id' },
];

/** The rate-limit keys that name the user (chat/checks.ts, chat/preview.ts, models/validate.ts). */
const rateLimitKeys = (userId: string) => [`messages:${userId}`, `preview:${userId}`, `llm-validate:${userId}`];

/** eraseUserData: the users service only, acting for the user being erased. Idempotent: a repeat finds nothing more. */
export async function eraseUserData(ctx: Context, userId: string): Promise<boolean> {
  const actingFor = requireService(ctx, 'users');
  if (!isUuid(userId) || actingFor.id !== userId) throw badInput('userId', 'must be the user the call acts for');
  // What the event bus keeps of their conversations (replays, replies' text so far) goes first: a repeat still finds the ids.
  await ctx.bus.forget(await ctx.store.lifecycle.conversationsOf(userId));
  await ctx.store.lifecycle.erase(userId, MESSAGES_ERASURE);
  await ctx.generator.forgetUser(userId);
  await ctx.rateLimiter.forget(rateLimitKeys(userId));
  return true;
}
