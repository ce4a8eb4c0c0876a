/**
 * Sessions and their revocation, as the users subgraph and the gateway both see them. The users
 * subgraph names in each access token it signs the session it belongs to (a refresh-token family:
 * one sign-in and its rotations); once that session is revoked, the gateway refuses the token
 * although it has not expired (gateway/src/revocations.ts).
 */
import { decodeJwt } from 'jose';

/** The access-token claim naming its session: OpenID Connect's session id claim. */
export const SESSION_ID_CLAIM = 'sid';

/**
 * How long past the access-token lifetime a revoked session is still refused: clocks differ a
 * little between processes, and a token signed as its session was being revoked (a rotation that
 * committed just before a replay revoked the family) outlives the revocation by a moment.
 */
export const REVOCATION_MARGIN_MS = 60_000;

/**
 * How long after its revocation a session is refused (ms): after that, every access token it could
 * have had has expired, and its revocation matters to nobody.
 */
export function refusalPeriodMs(accessTokenTtlSeconds: number): number {
  return accessTokenTtlSeconds * 1000 + REVOCATION_MARGIN_MS;
}

/**
 * The session id of an access token, or undefined when it names none (tokens signed before
 * sessions were named). It decodes without verifying: call it only on a token verified already.
 */
export function sessionIdOf(token: string): string | undefined {
  try {
    const sid = decodeJwt(token)[SESSION_ID_CLAIM];
    return typeof sid === 'string' ? sid : undefined;
  } catch {
    return undefined;
  }
}
