/** runMessageRetention: the messages subgraph's part of an admin's runRetention. */
import { conflict, forbidden } from '@chat/shared/errors';
import { requireService } from '@chat/shared/identity';
import type { Context } from '../context';

/** runMessageRetention: the conversations service only, for an admin's runRetention; CONFLICT while another run holds the lock. */
export async function runMessageRetention(ctx: Context, dryRun: boolean): Promise<number> {
  const actingFor = requireService(ctx, 'conversations');
  if (actingFor.role !== 'ADMIN') throw forbidden('Only admins may run retention.');
  const purge = await ctx.retention.run(new Date(), dryRun);
  if (!purge) throw conflict('A retention run is under way; try again when it has finished.');
  return purge.messagesPurged;
}
