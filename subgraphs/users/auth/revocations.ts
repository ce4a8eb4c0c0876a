/**
 * revokedSessions: the sessions revoked lately, which the gateways poll to refuse the access
 * tokens of revoked sessions before those expire (gateway/src/revocations.ts).
 *
 * Internal, and for the gateway's own calls only. Anything else the gateway sends is a client's
 * operation, signed by the gateway too; the field is @inaccessible, so no client operation can
 * name it, and any other service is refused.
 */
import { badInput, forbidden } from '@chat/shared/errors';
import { GATEWAY_SERVICE } from '@chat/shared/identity';
import { refusalPeriodMs } from '@chat/shared/session-revocation';
import type { Context } from '../context';

/** A revoked session as the schema's RevokedSession. */
export interface RevokedSession {
  sessionId: string;
  revokedAt: Date;
}

/**
 * The sessions revoked at or after `since` whose access tokens could still be alive: a caller
 * asking further back (a gateway starting) gets only those, so the answer stays as small as the
 * revocations of one access-token lifetime.
 */
export async function revokedSessions(ctx: Context, since: string): Promise<RevokedSession[]> {
  if (ctx.caller.service !== GATEWAY_SERVICE) throw forbidden('Only the gateway may ask for revoked sessions.');
  const asked = new Date(since);
  if (Number.isNaN(asked.getTime())) throw badInput('since', 'must be an ISO-8601 date-time');
  const oldest = Date.now() - refusalPeriodMs(ctx.config.auth.accessTokenTtlSeconds);
  const families = await ctx.store.sessions.revokedSince(new Date(Math.max(asked.getTime(), oldest)));
  return families.map(({ familyId, revokedAt }) => ({ sessionId: familyId, revokedAt }));
}
