import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it, jest } from '@jest/globals';
import { SignJWT, importJWK, UnsecuredJWT } from 'jose';
import { ConfigError } from './config';
import { KEYS_FOLDER } from './key-files';
import {
  createServiceKeyring,
  generateServiceKeySet,
  loadServiceKeySet,
  ServiceAuthError,
  SERVICE_KEYS_FILE,
  SERVICE_TOKEN_ALG,
  SERVICE_TOKEN_TTL_SECONDS,
  type ServiceKeySet,
} from './service-auth';

const set = generateServiceKeySet();
const keyring = createServiceKeyring(set);

describe('service tokens', () => {
  it('carry the caller, and the user it acts for, to the service they are for', async () => {
    const token = await keyring.signer('messages').token('users', { id: 'u1', role: 'USER' });
    await expect(keyring.verifier('users').verify(token)).resolves.toEqual({ service: 'messages', actingFor: { id: 'u1', role: 'USER' } });
    const plain = await keyring.signer('gateway').token('messages');
    await expect(keyring.verifier('messages').verify(plain)).resolves.toEqual({ service: 'gateway' });
  });

  it('are refused by any other service', async () => {
    const token = await keyring.signer('messages').token('users');
    await expect(keyring.verifier('conversations').verify(token)).rejects.toBeInstanceOf(ServiceAuthError);
  });

  it('are cached while fresh, one per target and user', async () => {
    const signer = keyring.signer('gateway');
    expect(await signer.token('users')).toBe(await signer.token('users'));
    expect(await signer.token('users')).not.toBe(await signer.token('characters'));
    expect(await signer.token('users', { id: 'a', role: 'USER' })).not.toBe(await signer.token('users', { id: 'b', role: 'USER' }));
  });

  it('once verified, are taken again without a second check until they expire, and nothing else is', async () => {
    const verifier = createServiceKeyring(set).verifier('users');
    const token = await keyring.signer('messages').token('users', { id: 'u1', role: 'USER' });
    const first = await verifier.verify(token);
    const again = await verifier.verify(token);
    expect(again).toEqual(first);
    expect(again).not.toBe(first); // each request gets its own caller
    // A changed signature is checked, and refused, whatever was verified before.
    await expect(verifier.verify(`${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`)).rejects.toBeInstanceOf(ServiceAuthError);
    // Past its expiry the same token is refused.
    jest.useFakeTimers({ now: Date.now() + (SERVICE_TOKEN_TTL_SECONDS + 1) * 1000, doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    try {
      await expect(verifier.verify(token)).rejects.toThrow('expired');
    } finally {
      jest.useRealTimers();
    }
  });

  it('signed by a key of another deployment, unsigned, forged or expired, are refused', async () => {
    const verifier = keyring.verifier('users');
    const stranger = await createServiceKeyring(generateServiceKeySet()).signer('messages').token('users');
    await expect(verifier.verify(stranger)).rejects.toBeInstanceOf(ServiceAuthError);
    const unsigned = new UnsecuredJWT({}).setIssuer('messages').setAudience('users').setIssuedAt().setExpirationTime('1m').encode();
    await expect(verifier.verify(unsigned)).rejects.toBeInstanceOf(ServiceAuthError);
    await expect(verifier.verify('not.a.token')).rejects.toBeInstanceOf(ServiceAuthError);
    const messagesKey = await importJWK(set.privateKeys.messages!, SERVICE_TOKEN_ALG);
    const sign = (issuer: string, kid: string, expires: number, issued = Math.floor(Date.now() / 1000)) =>
      new SignJWT({}).setProtectedHeader({ alg: SERVICE_TOKEN_ALG, kid }).setIssuer(issuer).setAudience('users').setIssuedAt(issued).setExpirationTime(expires).sign(messagesKey);
    const now = Math.floor(Date.now() / 1000);
    // The messages key claiming to be the gateway.
    await expect(verifier.verify(await sign('gateway', 'messages', now + 30))).rejects.toThrow('another issuer');
    await expect(verifier.verify(await sign('messages', 'messages', now - 1, now - 61))).rejects.toThrow('expired');
    await expect(verifier.verify(await sign('messages', 'messages', now + 3600))).rejects.toThrow('too long');
  });
});

describe('service key sets', () => {
  it('are required in production', () => {
    expect(() => loadServiceKeySet({ nodeEnv: 'production', dataDir: 'memory://', serviceKeys: {} })).toThrow(ConfigError);
  });

  it('are generated once in development and kept under DATA_DIR, private to the owner', () => {
    const dir = mkdtempSync(join(tmpdir(), 'service-keys-'));
    try {
      const first = loadServiceKeySet({ nodeEnv: 'development', dataDir: dir, serviceKeys: {} });
      const again = loadServiceKeySet({ nodeEnv: 'development', dataDir: dir, serviceKeys: {} });
      expect(again).toEqual(first);
      expect(statSync(join(dir, KEYS_FOLDER, SERVICE_KEYS_FILE)).mode & 0o077).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('are one set for processes that start at once from one DATA_DIR (each service run alone in development)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'service-keys-'));
    try {
      // Each process, once started, waits for the same instant, so that all look for the set at once.
      const load = `import { loadServiceKeySet } from ${JSON.stringify(new URL('./service-auth.ts', import.meta.url).href)};
        await new Promise((resolve) => setTimeout(resolve, Number(process.argv[2]) - Date.now()));
        process.stdout.write(JSON.stringify(loadServiceKeySet({ nodeEnv: 'development', dataDir: process.argv[1], serviceKeys: {} }).publicKeys));`;
      const at = String(Date.now() + 5_000);
      const run = () => promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', load, dir, at]).then(({ stdout }) => stdout);
      const sets = await Promise.all(Array.from({ length: 5 }, run));
      expect(new Set(sets).size).toBe(1);
      expect(JSON.parse(sets[0]!)).toEqual(loadServiceKeySet({ nodeEnv: 'development', dataDir: dir, serviceKeys: {} }).publicKeys);
      // Nothing half-made is left beside the set.
      expect(readdirSync(join(dir, KEYS_FOLDER))).toEqual([SERVICE_KEYS_FILE]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('from the environment: each process holds its own private keys and every public one', async () => {
    const publicKeys = JSON.stringify(set.publicKeys);
    const messagesOnly: ServiceKeySet = loadServiceKeySet({
      nodeEnv: 'production',
      dataDir: 'memory://',
      serviceKeys: { privateKeys: JSON.stringify({ messages: set.privateKeys.messages }), publicKeys },
    });
    const own = createServiceKeyring(messagesOnly);
    const token = await own.signer('messages').token('users');
    await expect(keyring.verifier('users').verify(token)).resolves.toEqual({ service: 'messages' });
    expect(() => own.signer('gateway')).toThrow(ConfigError);
    expect(() => loadServiceKeySet({ nodeEnv: 'production', dataDir: 'memory://', serviceKeys: { publicKeys: '{"nobody": {}}' } })).toThrow('unknown service');
    expect(() => loadServiceKeySet({ nodeEnv: 'production', dataDir: 'memory://', serviceKeys: { publicKeys: JSON.stringify({ users: set.publicKeys.users }) } })).toThrow('lacks the key');
    expect(() => loadServiceKeySet({ nodeEnv: 'production', dataDir: 'memory://', serviceKeys: { privateKeys: JSON.stringify({ users: set.publicKeys.users }) } })).toThrow('private JWK');
  });
});
