/** Redis going away and coming back, on a private redis-server of this test's own (127.0.0.1 only). */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { freePort } from '../support/ports';
import { startTestSystem, type TestSystem } from '../support/system';
import { collect, wsClient } from '../support/ws';

function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('Ready to accept connections')) resolve(child);
    });
  });
}

function stopRedis(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

const SEND = `mutation($id: ID!, $c: String!) { sendMessage(input: { conversationId: $id, content: $c }) { reply { id status } } }`;

describe('while Redis is down', () => {
  let port: number;
  let redis: ChildProcess;
  let t: TestSystem;
  beforeAll(async () => {
    port = await freePort();
    redis = await startRedis(port);
    t = await startTestSystem('pglite', { REDIS_URL: `redis://127.0.0.1:${port}`, OFFLINE_WORD_DELAY_MS: '1' });
  });
  afterAll(async () => {
    await t?.stop();
    await stopRedis(redis);
  });

  it('keeps queries working, refuses sendMessage clearly, ends subscriptions with an error, and recovers when Redis returns', async () => {
    const me = await t.signUp();
    const character = await t.gql(`mutation { createCharacter(input: { name: "Resilient" }) { id } }`, {}, me.token);
    const started = await t.gql(`mutation($c: ID!) { startConversation(input: { characterId: $c }) { id } }`, { c: character.data.createCharacter.id }, me.token);
    const id = started.data.startConversation.id;
    const client = wsClient(t.gatewayUrl, me.token);
    const sub = collect<any>(client, `subscription($id: ID!) { conversationEvents(conversationId: $id) { kind } }`, { id }, 'conversationEvents');
    // Live for sure once it has seen an event: a reply, start to end.
    for (let tries = 0; tries < 50 && sub.events.length === 0; tries += 1) {
      await t.gql(SEND, { id, c: `are you there? ${tries}` }, me.token);
      await new Promise((r) => setTimeout(r, 200));
    }
    await sub.until((events) => events.some((e) => e.kind === 'REPLY_COMPLETED'));

    await stopRedis(redis);
    await sub.done;
    expect(JSON.stringify(sub.errors)).toContain('subscribe again');

    const query = await t.gql(`query($id: ID!) { conversation(id: $id) { title messageCount } }`, { id }, me.token);
    expect(query.errors).toBeUndefined();
    const stored = query.data.conversation.messageCount;
    const refused = await t.gql(SEND, { id, c: 'hello?' }, me.token);
    expect(refused.status).toBeLessThan(500);
    expect(refused.errors?.[0].extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    expect(refused.errors?.[0].message).toContain('temporarily unavailable');
    expect((await t.gql(`query($id: ID!) { conversation(id: $id) { messageCount } }`, { id }, me.token)).data.conversation.messageCount).toBe(stored);

    redis = await startRedis(port);
    const deadline = Date.now() + 15_000;
    let sent = await t.gql(SEND, { id, c: 'back again' }, me.token);
    while (sent.errors && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 300));
      sent = await t.gql(SEND, { id, c: 'back again' }, me.token);
    }
    expect(sent.errors).toBeUndefined();
    await client.dispose();
  });
});
