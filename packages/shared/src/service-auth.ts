/**
 * Service identity: the gateway and each subgraph sign their calls to one another with a key of
 * their own, and a subgraph believes only calls signed by a known service.
 *
 * A call carries a short-lived service token (a JWT, EdDSA) in the `x-service-token` header: `iss`
 * is the calling service, `aud` the target, and, when the service acts for a user, that user as
 * `sub` with their `role`, and the caller as the actor (`act.sub`, the RFC 8693 pattern). The target
 * checks it against the caller's public key, pinned in its configuration: no key is ever fetched.
 *
 * Keys come from the environment (`SERVICE_PRIVATE_KEYS`: this process's own services' private
 * JWKs; `SERVICE_PUBLIC_KEYS`: every service's public JWK). In development and tests a full set is
 * generated once, kept under DATA_DIR (or in memory), so the all-in-one start needs nothing.
 */
import { generateKeyPairSync } from 'node:crypto';
import { errors as joseErrors, importJWK, jwtVerify, SignJWT, type CryptoKey, type JWK } from 'jose';
import { ConfigError, SUBGRAPH_NAMES, type Config } from './config';
import { generatedOnce } from './key-files';

/** Every service that signs calls or receives them. */
export const SERVICE_NAMES = ['gateway', ...SUBGRAPH_NAMES] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/** The header a service token travels in (HTTP), and its key in a graphql-ws `connection_init` payload. */
export const SERVICE_TOKEN_HEADER = 'x-service-token';
export const SERVICE_TOKEN_PARAM = 'serviceToken';
/** The one algorithm service tokens may use. */
export const SERVICE_TOKEN_ALG = 'EdDSA';
/** How long a service token is valid: long enough for a request, too short to be worth stealing. */
export const SERVICE_TOKEN_TTL_SECONDS = 60;
/** A cached token is signed anew once it has less than this left. */
export const SERVICE_TOKEN_REFRESH_SECONDS = 20;
/**
 * Tokens a verifier remembers as verified, until they expire: the gateway sends one token per
 * subgraph for a while, and checking its signature costs about 0.2 ms each time.
 */
export const VERIFIED_TOKENS_KEPT = 1_000;
/** The file a development key set is kept in, under DATA_DIR/keys. */
export const SERVICE_KEYS_FILE = 'service-keys.json';

/** A user a service acts for, vouched for by that service. */
export interface ActingFor {
  id: string;
  role: 'USER' | 'ADMIN';
}

/** Who made a call, as its verified service token says. */
export interface ServiceCaller {
  service: ServiceName;
  /** The user the caller acts for, if it said so. */
  actingFor?: ActingFor;
}

/** Signs the calls of one service. */
export interface ServiceSigner {
  readonly service: ServiceName;
  /** A token for a call to `target` (cached while fresh: one per target and user). */
  token(target: ServiceName, actingFor?: ActingFor): Promise<string>;
}

/** Checks the tokens of calls made to one service. */
export interface ServiceVerifier {
  readonly service: ServiceName;
  /** The caller behind a token; throws {@link ServiceAuthError} for any token that is not valid. */
  verify(token: string): Promise<ServiceCaller>;
}

/** The keys of one deployment: every service's public key, and the private keys this process holds. */
export interface ServiceKeyring {
  signer(service: ServiceName): ServiceSigner;
  verifier(service: ServiceName): ServiceVerifier;
}

/** A service token that is missing, malformed, expired, or signed by no known service. */
export class ServiceAuthError extends Error {
  override name = 'ServiceAuthError';
}

/** The key material of a deployment, as configured: JWKs by service name. */
export interface ServiceKeySet {
  privateKeys: Partial<Record<ServiceName, JWK>>;
  publicKeys: Record<ServiceName, JWK>;
}

/** A new key pair for each service (development, tests, and `npm run service-keys`). */
export function generateServiceKeySet(): ServiceKeySet {
  const privateKeys: Partial<Record<ServiceName, JWK>> = {};
  const publicKeys = {} as Record<ServiceName, JWK>;
  for (const service of SERVICE_NAMES) {
    const { privateKey } = generateKeyPairSync('ed25519');
    const jwk = { ...(privateKey.export({ format: 'jwk' }) as JWK), kid: service, alg: SERVICE_TOKEN_ALG };
    privateKeys[service] = jwk;
    publicKeys[service] = publicPart(jwk);
  }
  return { privateKeys, publicKeys };
}

/** Only what verifies: never the private `d`. */
function publicPart(jwk: JWK): JWK {
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, kid: jwk.kid, alg: SERVICE_TOKEN_ALG };
}

function parseKeys(name: string, raw: string, needPrivate: boolean): Partial<Record<ServiceName, JWK>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError(`${name} must be a JSON object of JWKs by service name (${SERVICE_NAMES.join(', ')})`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`${name} must be a JSON object of JWKs by service name`);
  const keys: Partial<Record<ServiceName, JWK>> = {};
  for (const [service, jwk] of Object.entries(parsed as Record<string, JWK>)) {
    if (!(SERVICE_NAMES as readonly string[]).includes(service)) throw new ConfigError(`${name} names an unknown service "${service}"`);
    if (jwk?.kty !== 'OKP' || jwk.crv !== 'Ed25519' || !jwk.x || (needPrivate && !jwk.d)) {
      throw new ConfigError(`${name}.${service} must be an Ed25519 ${needPrivate ? 'private' : 'public'} JWK`);
    }
    keys[service as ServiceName] = { ...jwk, kid: service, alg: SERVICE_TOKEN_ALG };
  }
  return keys;
}

/**
 * The configured key set (SERVICE_PRIVATE_KEYS and SERVICE_PUBLIC_KEYS); in development and tests
 * without them, one generated once and kept under DATA_DIR/keys (in memory with `memory://`).
 */
export function loadServiceKeySet(config: Pick<Config, 'nodeEnv' | 'dataDir' | 'serviceKeys'>): ServiceKeySet {
  const { privateKeys, publicKeys } = config.serviceKeys;
  if (privateKeys || publicKeys) {
    const own = privateKeys ? parseKeys('SERVICE_PRIVATE_KEYS', privateKeys, true) : {};
    const known = publicKeys ? parseKeys('SERVICE_PUBLIC_KEYS', publicKeys, false) : {};
    // A process's own public keys follow from its private ones.
    for (const [service, jwk] of Object.entries(own)) known[service as ServiceName] ??= publicPart(jwk);
    const missing = SERVICE_NAMES.filter((service) => !known[service]);
    if (missing.length > 0) throw new ConfigError(`SERVICE_PUBLIC_KEYS lacks the key of ${missing.join(', ')}`);
    return { privateKeys: own, publicKeys: known as Record<ServiceName, JWK> };
  }
  if (config.nodeEnv === 'production') throw new ConfigError('SERVICE_PRIVATE_KEYS and SERVICE_PUBLIC_KEYS are required in production (npm run service-keys makes a set)');
  if (config.dataDir === 'memory://') return generateServiceKeySet();
  // One set for every process of this DATA_DIR, those started at once included (key-files.ts).
  return JSON.parse(generatedOnce(config.dataDir, SERVICE_KEYS_FILE, () => JSON.stringify(generateServiceKeySet()))) as ServiceKeySet;
}

/** The deployment's keyring, from its configuration (see {@link loadServiceKeySet}): made once per process and passed down. */
export function loadServiceKeyring(config: Pick<Config, 'nodeEnv' | 'dataDir' | 'serviceKeys'>): ServiceKeyring {
  return createServiceKeyring(loadServiceKeySet(config));
}

/**
 * A key set as environment variables: SERVICE_PUBLIC_KEYS (every public key) and
 * SERVICE_PRIVATE_KEYS holding the private keys of `services` (all of them by default: one process
 * running every service, as tests do; a deployment gives each service its own only).
 */
export function serviceKeyEnvironment(set: ServiceKeySet, services: readonly ServiceName[] = SERVICE_NAMES): { SERVICE_PRIVATE_KEYS: string; SERVICE_PUBLIC_KEYS: string } {
  const own = Object.fromEntries(services.map((service) => [service, set.privateKeys[service]]).filter(([, jwk]) => jwk));
  return { SERVICE_PRIVATE_KEYS: JSON.stringify(own), SERVICE_PUBLIC_KEYS: JSON.stringify(set.publicKeys) };
}

/** Signs and verifies service tokens with a key set. */
export function createServiceKeyring(set: ServiceKeySet): ServiceKeyring {
  const imported = new Map<string, Promise<CryptoKey | Uint8Array>>();
  const key = (jwk: JWK) => {
    const id = `${jwk.kid}:${jwk.d ? 'private' : 'public'}`;
    let found = imported.get(id);
    if (!found) imported.set(id, (found = importJWK(jwk, SERVICE_TOKEN_ALG)));
    return found;
  };
  return {
    signer(service) {
      const jwk = set.privateKeys[service];
      if (!jwk) throw new ConfigError(`This process holds no private key for the ${service} service (SERVICE_PRIVATE_KEYS)`);
      const cache = new Map<string, { token: string; expiresAt: number }>();
      return {
        service,
        async token(target, actingFor) {
          const cacheKey = `${target}|${actingFor?.id ?? ''}|${actingFor?.role ?? ''}`;
          const now = Math.floor(Date.now() / 1000);
          const cached = cache.get(cacheKey);
          if (cached && cached.expiresAt - now > SERVICE_TOKEN_REFRESH_SECONDS) return cached.token;
          const expiresAt = now + SERVICE_TOKEN_TTL_SECONDS;
          const claims = actingFor ? { role: actingFor.role, act: { sub: service } } : {};
          const signing = new SignJWT(claims)
            .setProtectedHeader({ alg: SERVICE_TOKEN_ALG, kid: service, typ: 'JWT' })
            .setIssuer(service)
            .setAudience(target)
            .setIssuedAt(now)
            .setExpirationTime(expiresAt);
          if (actingFor) signing.setSubject(actingFor.id);
          const token = await signing.sign(await key(jwk));
          // One entry per target and user: drop the stale ones rather than grow without bound.
          if (cache.size > 1_000) for (const [k, v] of cache) if (v.expiresAt - now <= SERVICE_TOKEN_REFRESH_SECONDS) cache.delete(k);
          cache.set(cacheKey, { token, expiresAt });
          return token;
        },
      };
    },
    verifier(service) {
      const verified = new Map<string, { caller: ServiceCaller; expiresAt: number }>();
      /** A copy: each request gets a caller of its own. */
      const copy = ({ service: from, actingFor }: ServiceCaller): ServiceCaller => (actingFor ? { service: from, actingFor: { ...actingFor } } : { service: from });
      return {
        service,
        async verify(token) {
          const now = Math.floor(Date.now() / 1000);
          // Only the very same token, while it has not expired (as jose counts it: expired at exp).
          const known = verified.get(token);
          if (known && known.expiresAt > now) return copy(known.caller);
          try {
            // The key is chosen by the token's kid, which must also be its issuer.
            const { payload, protectedHeader } = await jwtVerify(token, async (header) => {
              // Only a service's own entry: a kid such as "constructor" names nothing.
              const jwk = header.kid && Object.hasOwn(set.publicKeys, header.kid) ? set.publicKeys[header.kid as ServiceName] : undefined;
              if (!jwk) throw new ServiceAuthError('The service token is signed by no known service.');
              return key(jwk);
            }, { algorithms: [SERVICE_TOKEN_ALG], audience: service, requiredClaims: ['iss', 'exp', 'iat'] });
            if (payload.iss !== protectedHeader.kid) throw new ServiceAuthError('The service token names another issuer than its key.');
            if ((payload.exp as number) - (payload.iat as number) > SERVICE_TOKEN_TTL_SECONDS) throw new ServiceAuthError('The service token lives too long.');
            const caller: ServiceCaller = { service: payload.iss as ServiceName };
            if (typeof payload.sub === 'string') caller.actingFor = { id: payload.sub, role: payload.role === 'ADMIN' ? 'ADMIN' : 'USER' };
            if (verified.size >= VERIFIED_TOKENS_KEPT) {
              for (const [kept, { expiresAt }] of verified) if (expiresAt <= now) verified.delete(kept);
              if (verified.size >= VERIFIED_TOKENS_KEPT) verified.clear();
            }
            verified.set(token, { caller, expiresAt: payload.exp as number });
            return copy(caller);
          } catch (error) {
            if (error instanceof ServiceAuthError) throw error;
            if (error instanceof joseErrors.JWTExpired) throw new ServiceAuthError('The service token has expired.');
            if (error instanceof joseErrors.JOSEError || error instanceof TypeError) throw new ServiceAuthError('The service token is not valid.');
            throw error;
          }
        },
      };
    },
  };
}
