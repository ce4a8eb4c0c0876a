/** Holding a new reply's credits before it is stored: the most it can cost, or INSUFFICIENT_CREDITS. */
import { randomUUID } from 'node:crypto';
import { contractError, ErrorCode } from '@chat/shared/errors';
import type { Context } from '../context';
import { HoldCreditsDocument } from '../generated/peers/users';
import type { GenerationJob } from '../generation/job';
import { promptTokenBound } from '../generation/prompt';
import type { HistoryMessage } from '../llm';
import { creditsFor, DEFAULT_PRICE } from '../replies/cost';
import type { ReplyHold } from '../store';

/**
 * Holds, in the users subgraph, what the reply about to be stored can cost at most: its prompt
 * (the history before `beforeSeq`, and `pending`) and `maxTokens` of completion, at the model's
 * price. The reply's id is chosen here and is the hold's key, so a retry holds once.
 */
export async function holdReplyCredits(
  ctx: Context,
  target: Omit<GenerationJob, 'replyId'>,
  beforeSeq: number,
  pending?: HistoryMessage,
): Promise<ReplyHold> {
  const promptTokens = await promptTokenBound(ctx.store, target, beforeSeq, pending);
  const amount = creditsFor({ promptTokens, completionTokens: target.settings.maxTokens }, DEFAULT_PRICE);
  const replyId = randomUUID();
  const { holdCredits } = await ctx.peers.users.call(
    HoldCreditsDocument,
    { input: { key: replyId, replyId, amount, reason: 'reply' } },
    { actingFor: ctx.viewer },
  );
  if (!holdCredits.held) {
    throw contractError(ErrorCode.INSUFFICIENT_CREDITS, `A reply here can cost up to ${amount} credits; you have ${holdCredits.balance}.`, {
      required: amount,
      balance: holdCredits.balance,
    });
  }
  return { replyId, holdKey: replyId, creditsHeld: amount };
}
