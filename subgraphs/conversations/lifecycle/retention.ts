/** runRetention: an admin runs (or, dry, counts) retention now, in the messages subgraph and here, as the daily jobs do. */
import { requireViewer } from '@chat/shared/auth';
import { conflict, forbidden } from '@chat/shared/errors';
import type { MutationResolvers } from '../generated/graphql';
import { RunMessageRetentionDocument } from '../generated/peers/messages';

/** What a run answers when another instance is running it now. */
export const RETENTION_BUSY = 'A retention run is under way; try again when it has finished.';

export const retentionMutations: Pick<MutationResolvers, 'runRetention'> = {
  /** Admins only: the messages subgraph's part first (the messages of what is purged here), then this one's. */
  async runRetention(_root, { dryRun }, ctx) {
    const viewer = requireViewer(ctx.viewer);
    if (viewer.role !== 'ADMIN') throw forbidden('Only admins may run retention.');
    const dry = dryRun ?? true;
    const { runMessageRetention } = await ctx.peers.messages.call(RunMessageRetentionDocument, { dryRun: dry }, { actingFor: viewer });
    const conversationsPurged = await ctx.retention.run(new Date(), dry);
    if (conversationsPurged === undefined) throw conflict(RETENTION_BUSY);
    return { conversationsPurged, messagesPurged: runMessageRetention, dryRun: dry };
  },
};
