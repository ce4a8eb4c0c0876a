/**
 * Every command the README shows is run: here (the curl session, the subscription script, the
 * health check, the signing-key generator, against a real system), or by the test or CI step named
 * for it. A command added to the README without one fails this test.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { importJWK, SignJWT, jwtVerify } from 'jose';
import { loadConfig } from '@chat/shared/config';
import { loadServiceKeyring, SERVICE_NAMES } from '@chat/shared/service-auth';
import { loadSecretsKey } from '@chat/shared/secrets';
import { privateKeyVariable } from '../../scripts/service-keys';
import { loadImageKey } from '../../subgraphs/characters/images/urls';
import { START_TIMEOUT_MS, waitUntil } from '../chat/helpers';
import { startTestSystem, type TestSystem } from '../support/system';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const run = promisify(execFile);

/** Each `$ ` command of the README's console blocks, with its continuation lines (an open quote). */
function readmeCommands(): string[] {
  const commands: string[] = [];
  for (const block of README.matchAll(/```console\n([\s\S]*?)```/g)) {
    const lines = block[1]!.split('\n');
    for (let i = 0; i < lines.length; i += 1) {
      if (!lines[i]!.startsWith('$ ')) continue;
      let command = lines[i]!.slice(2);
      // A multi-line command: an odd number of single quotes leaves one open.
      while ((command.match(/'/g)?.length ?? 0) % 2 === 1 && i + 1 < lines.length) command += `\n${lines[++i]}`;
      commands.push(command);
    }
  }
  return commands;
}

/** Commands run by another test or by CI, and where (that file must start what the command starts). */
const RUN_ELSEWHERE: Array<{ command: RegExp; by: string; starts: string }> = [
  { command: /^(export DATABASE_URL=|(PORT=\d+ )?(MESSAGES_URL=\S+ )?npx tsx subgraphs\/\w+\/main\.ts)/, by: 'test/scale/scale-out.test.ts', starts: 'subgraphs/messages/main.ts' },
  { command: /^(PORT=\d+ )?(MESSAGES_URL=\S+ )?npx tsx gateway\/src\/main\.ts/, by: 'test/scale/scale-out.test.ts', starts: 'gateway/src/main.ts' },
  { command: /^OTEL_EXPORTER_OTLP_ENDPOINT=\S+ npm start$/, by: 'test/observability/logs.test.ts', starts: 'OTEL_EXPORTER_OTLP_ENDPOINT' },
  { command: /^npm run bench/, by: '.ci/run', starts: 'npm run bench' },
];
/** Commands that need a Docker engine (none on the machines this runs on): their files are checked by test/build/deployment.test.ts. */
const NEEDS_DOCKER = /^docker (compose up|run )/;
/** Run by this file. */
const RUN_HERE = [/^curl -N \$G\/stream /, /^G=/, /^TOKEN=\S+ +#/, /^curl -s \$G /, /^TOKEN=\.\.\. CONV=\.\.\. node --input-type=module -e /, /^curl -s localhost:4000\/health$/, /^echo "JWT_PRIVATE_JWK=/, /^npm run -s service-keys >> \.env$/, /^echo "IMAGE_URL_SECRET=/, /^echo "SECRETS_KEY=/];

describe('README commands', () => {
  let t: TestSystem;
  const bash = (command: string, env: Record<string, string> = {}, cwd = ROOT) => run('bash', ['-c', command], { cwd, env: { ...process.env, ...env }, timeout: 30_000 });

  beforeAll(async () => {
    t = await startTestSystem('pglite', { OFFLINE_WORD_DELAY_MS: '1' });
  }, START_TIMEOUT_MS);
  afterAll(() => t?.stop());

  it('each has a test or CI step that runs it', () => {
    const commands = readmeCommands();
    expect(commands.length).toBeGreaterThan(20);
    for (const command of commands) {
      if (RUN_HERE.some((pattern) => pattern.test(command)) || NEEDS_DOCKER.test(command)) continue;
      const elsewhere = RUN_ELSEWHERE.find((entry) => entry.command.test(command));
      if (!elsewhere) throw new Error(`README command run by no test: ${command}`);
      expect({ command, runs: readFileSync(join(ROOT, elsewhere.by), 'utf8').includes(elsewhere.starts) }).toEqual({ command, runs: true });
    }
  });

  it('runs the curl session and the subscription script: a reply streams and is stored', async () => {
    const curls = readmeCommands().filter((c) => c.startsWith('curl -s $G '));
    expect(curls).toHaveLength(5);
    const env: Record<string, string> = { G: t.gatewayUrl };
    const json = async (command: string) => JSON.parse((await bash(command, env)).stdout) as any;
    const [register, createCharacter, startConversation, sendMessage, conversation] = curls as [string, string, string, string, string];

    const registered = await json(register);
    expect(registered.data.register.user).toMatchObject({ displayName: 'Ada', credits: expect.any(Number) });
    env.TOKEN = registered.data.register.accessToken;
    const character = (await json(createCharacter)).data.createCharacter;
    expect(character.name).toBe('Captain Nemo');
    const started = (await json(startConversation.replace('c1454146-...', character.id))).data.startConversation;
    expect(started.messages.edges[0].node).toEqual({ role: 'ASSISTANT', content: 'Welcome aboard the Nautilus.' });

    // The subscription script, with the system's address, prints the reply as it is written.
    const script = readmeCommands().find((c) => c.startsWith('TOKEN=... CONV=... node'))!.replace('TOKEN=... CONV=... ', '');
    const gatewayWs = t.gatewayUrl.replace('http://', 'ws://');
    const subscriber = spawn('bash', ['-c', script.replace('ws://127.0.0.1:4000/graphql', gatewayWs)], { cwd: ROOT, env: { ...process.env, ...env, CONV: started.id } });
    let printed = '';
    subscriber.stdout.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    subscriber.stderr.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    try {
      await new Promise((r) => setTimeout(r, 1500)); // the script connects and subscribes
      const sent = (await json(sendMessage.replace('7945dc99-...', started.id))).data.sendMessage;
      expect(sent).toMatchObject({ message: { status: 'COMPLETED' }, reply: { status: 'PENDING' } });
      await waitUntil(() => printed.includes('[REPLY_COMPLETED] COMPLETED'), 20_000, `the script's output: ${printed}`);
      expect(printed).toContain('You said: "Where are we headed, Captain?"');
    } finally {
      subscriber.kill();
    }
    const stored = (await json(conversation.replace('7945dc99-...', started.id))).data.conversation;
    expect(stored.messageCount).toBe(3);
    expect(stored.messages.edges.map((e: any) => e.node.status)).toEqual(['COMPLETED', 'COMPLETED', 'COMPLETED']);

    // curl -N on the SSE endpoint prints the next reply's events as they come, each with its cursor as id.
    const watch = readmeCommands().find((c) => c.startsWith('curl -N $G/stream '))!;
    const curl = spawn('bash', ['-c', watch.replace('7945dc99-...', started.id)], { cwd: ROOT, env: { ...process.env, ...env } });
    let streamed = '';
    curl.stdout.on('data', (chunk: Buffer) => (streamed += chunk.toString()));
    try {
      await waitUntil(() => streamed.startsWith(':'), 20_000, 'the event stream to open');
      await waitUntil(async () => (await fetch(`${new URL(t.gatewayUrl).origin}/metrics`).then((r) => r.text())).match(/chat_stream_subscriptions\{[^}]*transport="sse"[^}]*\} [1-9]/) !== null, 20_000, 'the subscription');
      const again = (await json(sendMessage.replace('7945dc99-...', started.id))).data.sendMessage;
      await waitUntil(() => streamed.includes('"kind":"REPLY_COMPLETED"'), 20_000, `curl's output: ${streamed}`);
      const events = streamed.split('\n\n').filter((m) => m.includes('event: next'));
      expect(events.every((m) => /^id: \d+-\d+\nevent: next\ndata: /.test(m.trim()))).toBe(true);
      const kinds = events.map((m) => JSON.parse(m.slice(m.indexOf('data: ') + 6)).data.conversationEvents);
      expect(kinds.filter((e) => e.kind === 'REPLY_DELTA').map((e) => e.delta).join('')).toBe(kinds.at(-1).message.content);
      expect(kinds.at(-1).message.content).toContain('You said: "Where are we headed, Captain?"');
      expect(again.reply.status).toBe('PENDING');
    } finally {
      curl.kill();
    }
  });

  it('runs the health check', async () => {
    const command = readmeCommands().find((c) => c.endsWith('/health'))!;
    const health = JSON.parse((await bash(command.replace('localhost:4000', new URL(t.gatewayUrl).host))).stdout);
    expect(health).toMatchObject({ status: 'healthy', service: 'gateway', dependencies: { users: { status: 'healthy' }, database: { status: 'healthy' } } });
  });

  it("makes service keys each service signs with as itself alone, and every other verifies", async () => {
    const command = readmeCommands().find((c) => c.startsWith('npm run -s service-keys'))!;
    const dir = mkdtempSync(join(tmpdir(), 'readme-service-keys-'));
    try {
      // As the README says, from the repository root; appended to a .env of our own here.
      await bash(command.replace('>> .env', `>> ${join(dir, '.env')}`));
      const lines = readFileSync(join(dir, '.env'), 'utf8').split('\n').filter((line) => line && !line.startsWith('#'));
      const env = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 2, -1)]));
      const keyring = (service: (typeof SERVICE_NAMES)[number]) =>
        loadServiceKeyring(loadConfig({ NODE_ENV: 'production', SERVICE_PRIVATE_KEYS: env[privateKeyVariable(service)]!, SERVICE_PUBLIC_KEYS: env.SERVICE_PUBLIC_KEYS! }));
      const gateway = keyring('gateway');
      const users = keyring('users');
      await expect(users.verifier('users').verify(await gateway.signer('gateway').token('users'))).resolves.toEqual({ service: 'gateway' });
      await expect(keyring('conversations').verifier('conversations').verify(await users.signer('users').token('conversations'))).resolves.toEqual({ service: 'users' });
      // Each holds its own key only.
      expect(() => users.signer('gateway')).toThrow('no private key');
      for (const service of SERVICE_NAMES) expect(() => keyring(service).signer(service)).not.toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('generates an image URL secret that production accepts', async () => {
    const command = readmeCommands().find((c) => c.startsWith('echo "IMAGE_URL_SECRET='))!;
    const dir = mkdtempSync(join(tmpdir(), 'readme-image-key-'));
    try {
      await bash(command, {}, dir);
      const line = readFileSync(join(dir, '.env'), 'utf8').trim();
      expect(line).toMatch(/^IMAGE_URL_SECRET=\S{32,}$/);
      const config = loadConfig({ NODE_ENV: 'production', IMAGE_URL_SECRET: line.slice('IMAGE_URL_SECRET='.length) });
      expect(loadImageKey(config).toString('utf8')).toBe(line.slice('IMAGE_URL_SECRET='.length));
      expect(() => loadImageKey(loadConfig({ NODE_ENV: 'production' }))).toThrow('IMAGE_URL_SECRET is required in production');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('generates a secrets key that production accepts', async () => {
    const command = readmeCommands().find((c) => c.startsWith('echo "SECRETS_KEY='))!;
    const dir = mkdtempSync(join(tmpdir(), 'readme-secrets-key-'));
    try {
      await bash(command, {}, dir);
      const line = readFileSync(join(dir, '.env'), 'utf8').trim();
      const config = loadConfig({ NODE_ENV: 'production', SECRETS_KEY: line.slice('SECRETS_KEY='.length) });
      expect(loadSecretsKey(config)).toHaveLength(32);
      expect(() => loadSecretsKey(loadConfig({ NODE_ENV: 'production' }))).toThrow('SECRETS_KEY is required in production');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('generates a signing key that signs and verifies tokens', async () => {
    const command = readmeCommands().find((c) => c.startsWith('echo "JWT_PRIVATE_JWK='))!;
    const dir = mkdtempSync(join(tmpdir(), 'readme-key-'));
    try {
      await bash(command, {}, dir);
      const line = readFileSync(join(dir, '.env'), 'utf8').trim();
      const jwk = JSON.parse(line.slice("JWT_PRIVATE_JWK='".length, -1));
      expect(jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', kid: expect.any(String), d: expect.any(String) });
      const { d: _secret, ...publicJwk } = jwk;
      const token = await new SignJWT({}).setProtectedHeader({ alg: 'EdDSA', kid: jwk.kid }).sign(await importJWK(jwk, 'EdDSA'));
      await expect(jwtVerify(token, await importJWK(publicJwk, 'EdDSA'))).resolves.toBeDefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
