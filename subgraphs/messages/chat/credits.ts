/** Holding a new reply's credits before it is stored: the most it can cost, or INSUFFICIENT_CREDITS. */
import { randomUUID } from 'node:crypto';
import { contractError, ErrorCode } from '@chat/shared/errors';
import type { Context } from '../context';
import { HoldCreditsDocument } from '../generated/peers/users';
import type { GenerationJob } from '../generation/job';
import { promptTokenBound } from '../generation/prompt';
import type { HistoryMessage } from '../llm';
import { creditsFor } from '../replies/cost';
import type { ReplyHold } from '../store';
import { orConflict } from './exchange';

/** `extensions.reason` of a send refused by the user's own spending limit. */
export const SPENDING_LIMIT_REASON = 'SPENDING_LIMIT';

/** What a hold is for: the history the reply answers, and which reply under which key. */
export interface HoldRequest {
  /** The last message of the history the reply is generated from (null: none). */
  leafId: string | null;
  /** A message about to be stored at the end of that history (the user's), or the text a continued reply goes on from. */
  pending?: HistoryMessage;
  /** The reply it is for; a new one's id is chosen here. */
  replyId?: string;
  /** The users subgraph's idempotency key (default: the reply's id, so a retry holds once). */
  key?: string;
}

/**
 * Holds, in the users subgraph, what the reply about to be stored (or continued) can cost at most:
 * its prompt (the history down to `leafId`, and `pending`) and `maxTokens` of completion, at the
 * model's price; INSUFFICIENT_CREDITS otherwise.
 */
export async function holdReplyCredits(ctx: Context, target: Omit<GenerationJob, 'replyId'>, request: HoldRequest): Promise<ReplyHold> {
  const promptTokens = await promptTokenBound(ctx.store, target, request.leafId, request.pending);
  const { price } = ctx.catalogue.route(target.settings.provider, target.settings.model);
  const amount = creditsFor({ promptTokens, completionTokens: target.settings.maxTokens }, price);
  const replyId = request.replyId ?? randomUUID();
  const key = request.key ?? replyId;
  // The provider asked for (never its fallback): a user with their own key for it holds nothing.
  const providerId = ctx.catalogue.asked(target.settings.provider).config.id;
  const { holdCredits } = await ctx.peers.users.call(
    HoldCreditsDocument,
    { input: { key, replyId, amount, reason: 'reply', provider: providerId } },
    { actingFor: ctx.viewer },
  );
  if (holdCredits.ownKey) return { replyId, holdKey: key, creditsHeld: 0 };
  if (!holdCredits.held) {
    const limited = holdCredits.refusedBy === 'SPENDING_LIMIT';
    const message = limited
      ? `A reply here can cost up to ${amount} credits, beyond your spending limit.`
      : `A reply here can cost up to ${amount} credits; you have ${holdCredits.balance}.`;
    throw contractError(ErrorCode.INSUFFICIENT_CREDITS, message, {
      required: amount,
      balance: holdCredits.balance,
      ...(limited ? { reason: SPENDING_LIMIT_REASON } : {}),
    });
  }
  return { replyId, holdKey: key, creditsHeld: amount };
}

/** Gives back a hold no reply was stored for (its write lost a race), through the settlement outbox. */
export async function releaseHold(ctx: Context, hold: ReplyHold, userId: string): Promise<void> {
  await ctx.store.releaseUnused(hold, userId);
  ctx.settler.kick();
}

/**
 * Runs the store's `write` of what `hold` was taken for: a refusal for the conversation's state is
 * CONFLICT, and whenever the write stores nothing, the hold is given back.
 */
export async function writeHeld<T>(ctx: Context, hold: ReplyHold, userId: string, write: () => Promise<T>): Promise<T> {
  try {
    return await orConflict(write());
  } catch (error) {
    await releaseHold(ctx, hold, userId);
    throw error;
  }
}
