/** What an ended reply owes: today, a completed reply's tokens are charged to its user's credits, once. */
import type { PeerClient } from '@chat/shared/peer-client';
import { ChargeCreditsDocument } from '../generated/peers/users';
import type { SettleReply } from './lifecycle';
import type { ReplyMetrics } from './metrics';

/** The charge's idempotency key: a retried charge of the same reply is a no-op in the users subgraph. */
const chargeKey = (replyId: string) => `reply:${replyId}`;

/** Settles a reply by charging its total tokens through the users subgraph when it completed; other ends cost nothing. */
export function chargeCompletedReplies(users: PeerClient, metrics: ReplyMetrics): SettleReply {
  return async (reply, actingFor) => {
    if (reply.status !== 'COMPLETED') return;
    const amount = reply.total_tokens ?? 0;
    await users.call(ChargeCreditsDocument, { amount, key: chargeKey(reply.id) }, { actingFor });
    metrics.credits.inc(amount);
  };
}
