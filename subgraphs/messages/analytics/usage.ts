/** User.usage and usageReport: replies, tokens, credits and latencies grouped over a time range. */
import { requireViewer } from '@chat/shared/auth';
import { badInput, forbidden } from '@chat/shared/errors';
import { requireAdmin } from '../access';
import type { Context } from '../context';
import type { UsageBucket, UsageGrouping } from './store';

/** The arguments both fields take. */
export interface UsageArgs {
  from?: string | null;
  to?: string | null;
  groupBy: UsageGrouping;
}

/** User.usage: the user themself or an admin; FORBIDDEN otherwise. */
export async function userUsage(ctx: Context, userId: string, args: UsageArgs): Promise<UsageBucket[]> {
  const viewer = requireViewer(ctx.viewer);
  if (viewer.id !== userId && viewer.role !== 'ADMIN') throw forbidden("Only the user themself or an admin may read a user's usage.");
  if (viewer.id !== userId) ctx.audit.record({ admin: viewer.id, action: 'readUsage', target: userId });
  return ctx.store.analytics.usage({ userId, ...range(args) }, args.groupBy);
}

/** usageReport: every user's, admins only. */
export async function usageReport(ctx: Context, args: UsageArgs): Promise<UsageBucket[]> {
  requireAdmin(ctx, 'read the usage report');
  const report = await ctx.store.analytics.usage({ userId: null, ...range(args) }, args.groupBy);
  ctx.audit.record({ admin: ctx.viewer!.id, action: 'usageReport', target: 'all-users', details: { groupBy: args.groupBy } });
  return report;
}

/** [from, to) as instants; BAD_USER_INPUT for a date that is not one, or a range that ends before it starts. */
function range(args: UsageArgs): { from?: Date; to?: Date } {
  const from = instant('from', args.from);
  const to = instant('to', args.to);
  if (from && to && to < from) throw badInput('to', 'must not be before from');
  return { from, to };
}

function instant(field: string, value: string | null | undefined): Date | undefined {
  if (value == null) return undefined;
  const time = Date.parse(value);
  if (Number.isNaN(time)) throw badInput(field, 'must be an ISO-8601 date-time');
  return new Date(time);
}
