import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createLocalJWKSet, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK, type JWTVerifyGetKey } from 'jose';
import { ACCESS_TOKEN_ALG, type Viewer } from '@chat/shared/auth';
import { ConfigError, type Config } from '@chat/shared/config';
import { SESSION_ID_CLAIM } from '@chat/shared/session-revocation';

/** The users subgraph's signing key and the public JWKS that everyone verifies against. */
export interface SigningKeys {
  /**
   * Signs an access token for a viewer in one session (its refresh-token family, named in the
   * token's `sid` so the gateway can refuse it once the session is revoked); returns it with its expiry.
   */
  sign(viewer: Viewer, sessionId: string): Promise<{ token: string; expiresAt: Date }>;
  /** The public keys, as served at JWKS_PATH. */
  jwks: { keys: JWK[] };
  /** The same keys for local verification. */
  getKey: JWTVerifyGetKey;
}

const KEY_FILE = 'jwt-signing-key.json';

async function generate(): Promise<JWK> {
  const { privateKey } = await generateKeyPair(ACCESS_TOKEN_ALG, { crv: 'Ed25519', extractable: true });
  return { ...(await exportJWK(privateKey)), kid: randomUUID(), alg: ACCESS_TOKEN_ALG };
}

/** The private JWK from JWT_PRIVATE_JWK; in development, one generated once and kept under DATA_DIR. */
async function loadPrivateJwk(config: Pick<Config, 'nodeEnv' | 'dataDir' | 'auth'>): Promise<JWK> {
  if (config.auth.privateJwk) {
    try {
      return JSON.parse(config.auth.privateJwk) as JWK;
    } catch {
      throw new ConfigError('JWT_PRIVATE_JWK must be a JSON Web Key');
    }
  }
  if (config.nodeEnv === 'production') throw new ConfigError('JWT_PRIVATE_JWK is required in production');
  if (config.dataDir === 'memory://') return generate();
  const dir = join(config.dataDir, 'keys');
  const file = join(dir, KEY_FILE);
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as JWK;
  const jwk = await generate();
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, JSON.stringify(jwk), { mode: 0o600 });
  return jwk;
}

/** The public keys rotated out (JWT_PREVIOUS_JWKS): still published, so their tokens verify until they expire. */
function previousKeys(config: Pick<Config, 'auth'>): JWK[] {
  if (!config.auth.previousJwks) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(config.auth.previousJwks);
  } catch {
    throw new ConfigError('JWT_PREVIOUS_JWKS must be JSON: an array of public JWKs or a JWKS');
  }
  const keys = (Array.isArray(parsed) ? parsed : (parsed as { keys?: unknown }).keys) as JWK[] | undefined;
  if (!Array.isArray(keys) || keys.some((k) => !k?.kid || k.crv !== 'Ed25519' || !k.x)) {
    throw new ConfigError('JWT_PREVIOUS_JWKS must hold Ed25519 public keys, each with a kid');
  }
  // Only the public part is ever published.
  return keys.map(({ kty, crv, x, kid }) => ({ kty, crv, x, kid, alg: ACCESS_TOKEN_ALG, use: 'sig' }));
}

/** Loads the signing key and derives the public JWKS from it (plus the keys rotated out). */
export async function loadSigningKeys(config: Pick<Config, 'nodeEnv' | 'dataDir' | 'auth'>): Promise<SigningKeys> {
  const jwk = await loadPrivateJwk(config);
  if (!jwk.kid || jwk.crv !== 'Ed25519' || !jwk.d) throw new ConfigError('JWT_PRIVATE_JWK must be an Ed25519 private key with a kid');
  const privateKey = await importJWK(jwk, ACCESS_TOKEN_ALG);
  const { d: _private, ...publicJwk } = jwk;
  const jwks = { keys: [{ ...publicJwk, alg: ACCESS_TOKEN_ALG, use: 'sig' }, ...previousKeys(config).filter((k) => k.kid !== jwk.kid)] };
  return {
    jwks,
    getKey: createLocalJWKSet(jwks),
    async sign(viewer, sessionId) {
      const expiresAt = new Date(Date.now() + config.auth.accessTokenTtlSeconds * 1000);
      const token = await new SignJWT({ role: viewer.role, [SESSION_ID_CLAIM]: sessionId })
        .setProtectedHeader({ alg: ACCESS_TOKEN_ALG, kid: jwk.kid, typ: 'JWT' })
        .setSubject(viewer.id)
        .setIssuer(config.auth.issuer)
        .setAudience(config.auth.audience)
        .setIssuedAt()
        .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
        .setJti(randomUUID())
        .sign(privateKey);
      return { token, expiresAt };
    },
  };
}
