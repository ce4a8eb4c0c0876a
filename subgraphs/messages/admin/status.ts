/** What admins see of chat generation: this instance's status, and the dead-lettered jobs. */
import { hostname } from 'node:os';
import { pageWindow } from '@chat/shared/pagination';
import { requireAdmin } from '../access';
import type { Context } from '../context';

/** The contract's names for the breaker's states. */
const BREAKER_STATES = { closed: 'CLOSED', open: 'OPEN', 'half-open': 'HALF_OPEN' } as const;

/** systemStatus: queue depth, replies in flight, open subscriptions and the provider's breaker. */
export async function systemStatus(ctx: Context) {
  requireAdmin(ctx, 'see the system status');
  const load = await ctx.generator.load();
  return {
    instance: `${hostname()}:${process.pid}`,
    queueDepth: load.waiting,
    jobsPending: load.pending,
    repliesInFlight: load.generating,
    openSubscriptions: ctx.sessions.openSubscriptions(),
    providers: ctx.catalogue.list().map(({ config, client, models }) => ({
      name: config.id,
      defaultModel: config.defaultModel ?? models()[0]?.id ?? '',
      breakerState: BREAKER_STATES[client.breakerState()],
    })),
    checkedAt: new Date(),
  };
}

/** generationDeadLetters: the newest jobs that failed every delivery. */
export async function generationDeadLetters(ctx: Context, first: number | null | undefined) {
  requireAdmin(ctx, 'see dead letters');
  const { limit } = pageWindow({ first }, ['integer']);
  const letters = await ctx.generator.deadLetters(limit);
  return letters.map(({ job, deliveries, failedAt }) => ({ replyId: job.replyId, conversationId: job.conversationId, userId: job.userId, deliveries, failedAt }));
}
