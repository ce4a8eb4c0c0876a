/**
 * Who a request to a subgraph comes from. Subgraphs trust services, not users: a request is
 * believed only when it carries a service token (service-auth.ts) that a known service signed for
 * this subgraph, and what else it says is believed as far as that service is trusted:
 *
 * - the gateway forwards clients' operations: the user is the one of the access token it forwards
 *   (checked here again), and the client address is the one it sets in X-Forwarded-For;
 * - a peer subgraph calls on a user's behalf: the user is the one it vouches for in its token (an
 *   Authorization header it sends along is ignored), and there is no client address;
 * - internal fields answer only the peers named for them (`requireService`).
 */
import { GraphQLError } from 'graphql';
import type { TokenVerifier, Viewer } from './auth';
import { forbidden, unauthenticated } from './errors';
import { ServiceAuthError, type ActingFor, type ServiceCaller, type ServiceName, type ServiceVerifier } from './service-auth';

/** What every subgraph's context starts from: the verified calling service, the user it is for, and the client's address. */
export interface RequestIdentity {
  /** The service that made the request, as its verified service token says. */
  caller: ServiceCaller;
  /** The user the request is for: the gateway's forwarded access token, or the user a peer vouches for. */
  viewer: Viewer | null;
  /** The client's address, as the gateway saw it (per-address limits); none for a peer's call. */
  clientAddress?: string;
}

/** The one service that forwards clients' own access tokens and addresses. */
export const GATEWAY_SERVICE: ServiceName = 'gateway';

/** What a subgraph answers a request without a valid service token. */
export const GATEWAY_ONLY_MESSAGE = 'Requests must come through the gateway.';

/** The HTTP status of a refused identity (the token, or the service token): 401. */
export const UNAUTHENTICATED_STATUS = 401;

/** What a request presents: its service token, the Authorization it carries, and X-Forwarded-For. */
export interface PresentedCredentials {
  serviceToken?: unknown;
  authorization?: unknown;
  forwardedFor?: string | string[];
}

/** What a subgraph checks its callers with: access tokens (users), and service tokens for itself. */
export interface CallerVerifiers {
  tokens: TokenVerifier;
  services: ServiceVerifier;
}

/** An UNAUTHENTICATED error answered with HTTP 401. */
function refused(error: GraphQLError): GraphQLError {
  return new GraphQLError(error.message, { extensions: { ...error.extensions, http: { status: UNAUTHENTICATED_STATUS } } });
}

/** The viewer of an Authorization header (null without one); a bad token is UNAUTHENTICATED with status 401. */
export async function viewerOf(verifier: TokenVerifier, authorization: string | undefined): Promise<Viewer | null> {
  try {
    return await verifier.fromAuthorization(authorization);
  } catch (error) {
    throw error instanceof GraphQLError ? refused(error) : error;
  }
}

/** The last hop of an X-Forwarded-For header: the address the nearest proxy saw (every earlier one is the client's to write). */
export function lastForwardedHop(forwardedFor: string | string[] | undefined): string | undefined {
  const joined = Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor;
  const hop = joined?.split(',').at(-1)?.trim();
  return hop || undefined;
}

/**
 * The identity of a request to a subgraph, from what it presents. No service token, or one that is
 * not valid for this subgraph (another deployment's key, expired, for another service): refused,
 * UNAUTHENTICATED with status 401, whatever else the request carries.
 */
export async function identifyCaller(verifiers: CallerVerifiers, presented: PresentedCredentials): Promise<RequestIdentity> {
  const { serviceToken } = presented;
  if (typeof serviceToken !== 'string' || serviceToken === '') throw refused(unauthenticated(GATEWAY_ONLY_MESSAGE));
  let caller: ServiceCaller;
  try {
    caller = await verifiers.services.verify(serviceToken);
  } catch (error) {
    if (error instanceof ServiceAuthError) throw refused(unauthenticated(`${GATEWAY_ONLY_MESSAGE} ${error.message}`));
    throw error;
  }
  if (caller.service !== GATEWAY_SERVICE) return { caller, viewer: caller.actingFor ?? null };
  const authorization = typeof presented.authorization === 'string' ? presented.authorization : undefined;
  return { caller, viewer: await viewerOf(verifiers.tokens, authorization), clientAddress: lastForwardedHop(presented.forwardedFor) };
}

/**
 * Guards an internal field: the caller must be one of the `allowed` peer services, acting for a
 * user; returns that user. Anyone else, the gateway included (it forwards clients' operations, and
 * internal fields are not in its API), is refused with FORBIDDEN: the caller is a known service, and
 * the field is no secret, it is just not theirs to call.
 */
export function requireService(identity: Pick<RequestIdentity, 'caller'>, ...allowed: ServiceName[]): ActingFor {
  const { service, actingFor } = identity.caller;
  if (!allowed.includes(service) || service === GATEWAY_SERVICE) throw forbidden(`Only the ${allowed.join(' or ')} service may call this.`);
  if (!actingFor) throw forbidden('This must be called on behalf of a user.');
  return actingFor;
}
