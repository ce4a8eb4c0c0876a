/**
 * Secrets kept at rest (users' own provider keys): sealed with AES-256-GCM under SECRETS_KEY, a
 * random 12-byte IV each, bound by additional authenticated data to where they are stored, so a
 * sealed value copied to another row (another user, another provider) does not open.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ConfigError, SECRETS_KEY_BYTES, type Config } from './config';
import { generatedOnce } from './key-files';

/** The file under DATA_DIR/keys that keeps the development key. */
export const SECRETS_KEY_FILE = 'secrets-key';
/** The cipher, its IV and tag sizes (GCM's recommended 96-bit IV, full 128-bit tag). */
const CIPHER = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** The format of a sealed value, so a later one can be told apart: `v1.<iv>.<tag>.<ciphertext>`, base64url. */
const VERSION = 'v1';

/**
 * SECRETS_KEY; without it outside production, a key generated once and kept under DATA_DIR/keys
 * (per process with `memory://`). Production refuses to start without one.
 */
export function loadSecretsKey(config: Pick<Config, 'nodeEnv' | 'dataDir' | 'secretsKey'>): Buffer {
  if (config.secretsKey) return Buffer.from(config.secretsKey, 'base64');
  if (config.nodeEnv === 'production') throw new ConfigError('SECRETS_KEY is required in production (32 bytes of base64, e.g. openssl rand -base64 32)');
  if (config.dataDir === 'memory://') return randomBytes(SECRETS_KEY_BYTES);
  return Buffer.from(generatedOnce(config.dataDir, SECRETS_KEY_FILE, () => randomBytes(SECRETS_KEY_BYTES).toString('base64')).trim(), 'base64');
}

/** Encrypts `plaintext` under `key`, bound to `context` (e.g. its owner and purpose). */
export function sealSecret(key: Buffer, plaintext: string, context: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(CIPHER, key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return [VERSION, iv, cipher.getAuthTag(), body].map((part) => (typeof part === 'string' ? part : part.toString('base64url'))).join('.');
}

/** The plaintext of a sealed value; undefined when it does not open (another key, another context, tampered). */
export function openSecret(key: Buffer, sealed: string, context: string): string | undefined {
  const [version, iv, tag, body, ...rest] = sealed.split('.');
  if (version !== VERSION || body === undefined || rest.length > 0) return undefined;
  try {
    const decipher = createDecipheriv(CIPHER, key, Buffer.from(iv, 'base64url'), { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}
