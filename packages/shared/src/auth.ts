import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { unauthenticated } from './errors';

/** Who is calling: the subject of a verified access token. */
export interface Viewer {
  id: string;
  role: 'USER' | 'ADMIN';
  /** When the token this viewer came from expires (ms since the epoch). */
  expiresAt?: number;
}

/** The one signature algorithm access tokens may use; anything else is refused. */
export const ACCESS_TOKEN_ALG = 'EdDSA';
/** Where the users subgraph publishes its public keys, relative to its origin. */
export const JWKS_PATH = '/.well-known/jwks.json';
const BEARER = /^Bearer\s+([A-Za-z0-9\-_.]+)$/;

/** Verifies access tokens; every subgraph and the gateway build one. */
export interface TokenVerifier {
  /** The viewer behind a token; throws UNAUTHENTICATED for any token that is not valid. */
  verify(token: string): Promise<Viewer>;
  /** The viewer behind an `Authorization` header value; null when there is none. */
  fromAuthorization(header: string | undefined | null): Promise<Viewer | null>;
}

/** The JWKS of the users subgraph, fetched over HTTP and cached by jose. */
export function remoteKeys(usersSubgraphUrl: string): JWTVerifyGetKey {
  // Refetched at most every 5 s: a key removed from the JWKS stops verifying within seconds everywhere.
  return createRemoteJWKSet(new URL(JWKS_PATH, usersSubgraphUrl), { cooldownDuration: 5_000, cacheMaxAge: 5_000 });
}

/** A verifier pinned to one algorithm, issuer and audience. */
export function createTokenVerifier(options: { keys: JWTVerifyGetKey; issuer: string; audience: string }): TokenVerifier {
  const verify = async (token: string): Promise<Viewer> => {
    try {
      const { payload } = await jwtVerify(token, options.keys, {
        algorithms: [ACCESS_TOKEN_ALG],
        issuer: options.issuer,
        audience: options.audience,
        requiredClaims: ['sub', 'exp'],
      });
      const role = payload.role === 'ADMIN' ? 'ADMIN' : 'USER';
      if (typeof payload.sub !== 'string') throw unauthenticated('The access token has no subject.');
      return { id: payload.sub, role, expiresAt: (payload.exp as number) * 1000 };
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw unauthenticated('The access token has expired.');
      if (error instanceof joseErrors.JOSEError) throw unauthenticated('The access token is not valid.');
      throw error;
    }
  };
  return {
    verify,
    async fromAuthorization(header) {
      if (!header) return null;
      const match = BEARER.exec(header.trim());
      if (!match) throw unauthenticated('The Authorization header must be "Bearer <accessToken>".');
      return verify(match[1]);
    },
  };
}

/** True when the viewer may see or change what `ownerId` owns. */
export function canAccess(viewer: Viewer | null, ownerId: string): boolean {
  return viewer !== null && (viewer.id === ownerId || viewer.role === 'ADMIN');
}

/** The viewer, or UNAUTHENTICATED. */
export function requireViewer(viewer: Viewer | null): Viewer {
  if (!viewer) throw unauthenticated();
  return viewer;
}
