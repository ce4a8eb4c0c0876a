import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from './config';
import { KEYS_FOLDER } from './key-files';
import { loadSecretsKey, openSecret, sealSecret, SECRETS_KEY_FILE } from './secrets';

const key = randomBytes(32);

describe('sealed secrets', () => {
  it('open with the same key and context only', () => {
    const sealed = sealSecret(key, 'sk-live-abcdef123456', 'user-1\nopenai');
    expect(sealed).not.toContain('sk-live');
    expect(openSecret(key, sealed, 'user-1\nopenai')).toBe('sk-live-abcdef123456');
    // Moved to another row: another user, or another provider.
    expect(openSecret(key, sealed, 'user-2\nopenai')).toBeUndefined();
    expect(openSecret(key, sealed, 'user-1\nanthropic')).toBeUndefined();
    expect(openSecret(randomBytes(32), sealed, 'user-1\nopenai')).toBeUndefined();
  });

  it('use a fresh IV each time, and refuse a tampered or malformed value', () => {
    const a = sealSecret(key, 'same', 'c');
    const b = sealSecret(key, 'same', 'c');
    expect(a).not.toBe(b);
    const [version, iv, tag, body] = a.split('.');
    const flipped = Buffer.from(body, 'base64url');
    flipped[0] ^= 1;
    expect(openSecret(key, [version, iv, tag, flipped.toString('base64url')].join('.'), 'c')).toBeUndefined();
    for (const bad of ['', 'v1', 'v2.a.b.c', `${a}.extra`, 'v1.!!.??.**']) expect(openSecret(key, bad, 'c')).toBeUndefined();
  });
});

describe('SECRETS_KEY', () => {
  it('is 32 bytes of base64, or a ConfigError naming it', () => {
    const good = randomBytes(32).toString('base64');
    expect(loadConfig({ SECRETS_KEY: good }).secretsKey).toBe(good);
    expect(loadConfig({}).secretsKey).toBeUndefined();
    for (const bad of ['short', randomBytes(16).toString('base64'), randomBytes(33).toString('base64'), 'not base64 at all!!']) {
      expect(() => loadConfig({ SECRETS_KEY: bad })).toThrow(ConfigError);
      expect(() => loadConfig({ SECRETS_KEY: bad })).toThrow('SECRETS_KEY');
    }
  });

  it('is required in production; generated once under DATA_DIR in development; per process in memory', () => {
    expect(() => loadSecretsKey({ nodeEnv: 'production', dataDir: 'memory://' })).toThrow(ConfigError);
    const given = randomBytes(32);
    expect(loadSecretsKey({ nodeEnv: 'production', dataDir: 'memory://', secretsKey: given.toString('base64') })).toEqual(given);
    const dir = mkdtempSync(join(tmpdir(), 'secrets-'));
    try {
      const first = loadSecretsKey({ nodeEnv: 'development', dataDir: dir });
      expect(first).toHaveLength(32);
      expect(loadSecretsKey({ nodeEnv: 'development', dataDir: dir })).toEqual(first);
      expect(statSync(join(dir, KEYS_FOLDER, SECRETS_KEY_FILE)).mode & 0o777).toBe(0o600);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(loadSecretsKey({ nodeEnv: 'test', dataDir: 'memory://' })).not.toEqual(loadSecretsKey({ nodeEnv: 'test', dataDir: 'memory://' }));
  });
});
