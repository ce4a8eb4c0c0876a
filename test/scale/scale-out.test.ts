/**
 * Issue 4's proof: two gateways, two messages instances and one of each other subgraph, as
 * separate processes on the real PostgreSQL and Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import pg from 'pg';
import WebSocket from 'ws';
import { SUBGRAPH_NAMES } from '@chat/shared/config';
import { generateServiceKeySet, serviceKeyEnvironment, type ServiceName } from '@chat/shared/service-auth';
import { startFakeLlm, type FakeLlmServer } from '../support/fake-llm';
import { freePort } from '../support/ports';
import { dropSchema } from '../support/postgres';
import { startProcess, waitHealthy, type ServiceProcess } from '../support/processes';
import { TEST_DATABASE_URL, uniqueName } from '../support/system';
import { collect, wsClient } from '../support/ws';

const REDIS_URL = process.env.TEST_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const EVENTS = `subscription($id: ID!) { conversationEvents(conversationId: $id) { kind messageId delta sequence message { id status content } } }`;

async function gql(url: string, query: string, variables: Record<string, unknown> = {}, token?: string): Promise<any> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return response.json();
}

describe('scale-out: two gateways and two messages instances on PostgreSQL and Redis', () => {
  let llm: FakeLlmServer;
  const processes: ServiceProcess[] = [];
  const prefix = `t_${uniqueName('scale').toLowerCase()}_`;
  let ports: Record<'gatewayA' | 'gatewayB' | 'users' | 'characters' | 'conversations' | 'messages1' | 'messages2', number>;
  let gatewayA: string;
  let gatewayB: string;
  let messages1: ServiceProcess;
  let messages2: ServiceProcess;
  let spare: { token: string; conversationId: string } | undefined;

  beforeAll(async () => {
    llm = await startFakeLlm({ tokens: ['Hello', ' from', ' the', ' other', ' side'], tokenDelayMs: 5 });
    const names = ['gatewayA', 'gatewayB', 'users', 'characters', 'conversations', 'messages1', 'messages2'] as const;
    ports = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await freePort()]))) as typeof ports;
    const url = (port: number) => `http://127.0.0.1:${port}/graphql`;
    const common = {
      NODE_ENV: 'test',
      DATA_DIR: 'memory://',
      DATABASE_URL: TEST_DATABASE_URL,
      DATABASE_SCHEMA_PREFIX: prefix,
      REDIS_URL,
      REDIS_KEY_PREFIX: `${prefix}:`,
      LLM_PROVIDER: 'openai',
      LLM_BASE_URL: llm.baseUrl,
      JOB_CLAIM_IDLE_MS: '1500',
      REGISTRATIONS_PER_ADDRESS: '100000',
      REPLY_FLUSH_INTERVAL_MS: '50',
      USERS_URL: url(ports.users),
      CHARACTERS_URL: url(ports.characters),
      CONVERSATIONS_URL: url(ports.conversations),
      MESSAGES_URL: url(ports.messages1),
    };
    // One deployment's service keys; each process holds its own service's private key only, as under Docker Compose.
    const keys = generateServiceKeySet();
    const start = async (name: string, script: string, env: Record<string, string>, health: string) => {
      const own: ServiceName = name.startsWith('gateway') ? 'gateway' : (name.replace(/\d$/, '') as ServiceName);
      const service = startProcess(name, script, { ...common, ...serviceKeyEnvironment(keys, [own]), ...env });
      processes.push(service);
      await waitHealthy(health, service);
      return service;
    };
    const origin = (port: number) => `http://127.0.0.1:${port}/health`;
    await Promise.all([
      start('users', 'subgraphs/users/main.ts', {}, origin(ports.users)),
      start('characters', 'subgraphs/characters/main.ts', {}, origin(ports.characters)),
      start('conversations', 'subgraphs/conversations/main.ts', {}, origin(ports.conversations)),
    ]);
    // One at a time: both run the same migrations on the same schemas.
    messages1 = await start('messages1', 'subgraphs/messages/main.ts', {}, origin(ports.messages1));
    messages2 = await start('messages2', 'subgraphs/messages/main.ts', { MESSAGES_URL: url(ports.messages2) }, origin(ports.messages2));
    await Promise.all([
      start('gatewayA', 'gateway/src/main.ts', { PORT: String(ports.gatewayA) }, origin(ports.gatewayA)),
      start('gatewayB', 'gateway/src/main.ts', { PORT: String(ports.gatewayB), MESSAGES_URL: url(ports.messages2) }, origin(ports.gatewayB)),
    ]);
    gatewayA = url(ports.gatewayA);
    gatewayB = url(ports.gatewayB);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await llm?.close();
    await Promise.all(SUBGRAPH_NAMES.map((name) => dropSchema(TEST_DATABASE_URL, `${prefix}${name}`)));
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  }, 60_000);

  /** A new user with a character and `conversations` conversations with it (the first is `conversationId`). */
  async function user(gateway: string, conversations = 1) {
    const email = `${uniqueName('scale')}@example.com`;
    const registered = await gql(gateway, `mutation($i: RegisterInput!) { register(input: $i) { accessToken user { id } } }`, {
      i: { email, password: 'correct horse battery', displayName: 'Scaler' },
    });
    const token = registered.data.register.accessToken as string;
    const character = await gql(gateway, `mutation { createCharacter(input: { name: "Echo" }) { id } }`, {}, token);
    const conversationIds: string[] = [];
    for (let i = 0; i < conversations; i += 1) {
      const conversation = await gql(gateway, `mutation($c: ID!) { startConversation(input: { characterId: $c }) { id } }`, { c: character.data.createCharacter.id }, token);
      conversationIds.push(conversation.data.startConversation.id);
    }
    return { token, conversationId: conversationIds[0], conversationIds };
  }

  async function settled(gateway: string, token: string, conversationId: string, timeoutMs = 60_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const result = await gql(gateway, `query($id: ID!) { conversation(id: $id) { messages(first: 100) { edges { node { id role status content } } } } }`, { id: conversationId }, token);
      const nodes = result.data.conversation.messages.edges.map((e: any) => e.node);
      if (!nodes.some((n: any) => n.status === 'PENDING' || n.status === 'STREAMING') || Date.now() > deadline) return nodes;
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  it('delivers a reply to a subscriber on gateway A for a message sent through gateway B', async () => {
    const me = await user(gatewayA);
    const client = wsClient(gatewayA, me.token);
    const sub = collect<any>(client, EVENTS, { id: me.conversationId }, 'conversationEvents');
    await new Promise((r) => setTimeout(r, 300));
    const sent = await gql(gatewayB, `mutation($id: ID!) { sendMessage(input: { conversationId: $id, content: "across" }) { reply { id } } }`, { id: me.conversationId }, me.token);
    expect(sent.errors).toBeUndefined();
    const events = await sub.until((es) => es.some((e) => e.kind === 'REPLY_COMPLETED'));
    expect(events.filter((e) => e.kind === 'REPLY_DELTA').map((e) => e.delta).join('')).toBe('Hello from the other side');
    sub.stop();
    await client.dispose();
  });

  it('stores all of 200 messages sent at once by 20 users across both gateways, each with exactly one terminal reply', async () => {
    // Ten conversations each: a conversation takes one message at a time (CONFLICT while its reply is written).
    const users = await Promise.all(Array.from({ length: 20 }, (_, i) => user(i % 2 ? gatewayA : gatewayB, 10)));
    const sends = users.flatMap((u, i) =>
      u.conversationIds.map((id, k) =>
        gql((i + k) % 2 ? gatewayA : gatewayB, `mutation($id: ID!, $c: String!) { sendMessage(input: { conversationId: $id, content: $c }) { message { id } reply { id } } }`, {
          id,
          c: `message ${k}`,
        }, u.token),
      ),
    );
    const results = await Promise.all(sends);
    expect(results.filter((r) => r.errors)).toEqual([]);
    for (const u of users) {
      for (const id of u.conversationIds) {
        const nodes = await settled(gatewayA, u.token, id);
        expect(nodes.filter((n: any) => n.role === 'USER')).toHaveLength(1);
        const replies = nodes.filter((n: any) => n.role === 'ASSISTANT').slice(1);
        expect(replies).toHaveLength(1);
        expect(replies.every((r: any) => r.status === 'COMPLETED')).toBe(true);
      }
    }
  }, 180_000);

  it('cancels a reply generated by the other messages instance: it stops there, and no delta follows the cancel', async () => {
    llm.setBehaviour({ tokens: Array.from({ length: 40 }, (_, i) => ` c${i}`), tokenDelayMs: 100 });
    const me = await user(gatewayA);
    const client = wsClient(gatewayA, me.token);
    const sub = collect<any>(client, EVENTS, { id: me.conversationId }, 'conversationEvents');
    await new Promise((r) => setTimeout(r, 300));
    const sent = await gql(gatewayA, `mutation($id: ID!) { sendMessage(input: { conversationId: $id, content: "go on" }) { reply { id } } }`, { id: me.conversationId }, me.token);
    const replyId = sent.data.sendMessage.reply.id;
    await sub.until((es) => es.filter((e) => e.kind === 'REPLY_DELTA').length >= 3);
    const loads = await Promise.all(
      [ports.messages1, ports.messages2].map(async (port) => ((await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as any).generation.generating as number),
    );
    // Cancel through the gateway whose messages instance is not the one generating.
    const other = loads[0] === 1 ? gatewayB : gatewayA;
    const started = Date.now();
    const cancelled = await gql(other, `mutation($id: ID!) { cancelReply(messageId: $id) { id status content } }`, { id: replyId }, me.token);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(cancelled.data.cancelReply.status).toBe('CANCELLED');
    const events = await sub.until((es) => es.some((e) => e.kind === 'REPLY_CANCELLED'));
    await new Promise((r) => setTimeout(r, 500));
    const mine = sub.events.filter((e) => e.messageId === replyId);
    const end = mine.findIndex((e) => e.kind === 'REPLY_CANCELLED');
    expect(mine.slice(end + 1)).toEqual([]);
    expect(events.filter((e) => e.kind === 'REPLY_DELTA' && e.messageId === replyId).map((e) => e.delta).join('')).toBe(cancelled.data.cancelReply.content);
    sub.stop();
    await client.dispose();
  }, 60_000);

  it('finishes a reply on the other instance when the generating one is killed mid-stream, stored once and charged once', async () => {
    llm.setBehaviour({ tokens: Array.from({ length: 30 }, (_, i) => ` w${i}`), tokenDelayMs: 100 });
    const me = await user(gatewayA);
    // The conversations subgraph reaches messages #1 to start conversations: start the next test's while both live.
    spare = await user(gatewayA);
    const before = (await gql(gatewayA, `{ me { credits } }`, {}, me.token)).data.me.credits as number;
    const clients = [wsClient(gatewayA, me.token), wsClient(gatewayB, me.token)];
    const subs = clients.map((c) => collect<any>(c, EVENTS, { id: me.conversationId }, 'conversationEvents'));
    await new Promise((r) => setTimeout(r, 300));
    const sent = await gql(gatewayA, `mutation($id: ID!) { sendMessage(input: { conversationId: $id, content: "long story" }) { reply { id } } }`, { id: me.conversationId }, me.token);
    const replyId = sent.data.sendMessage.reply.id;
    await subs[0].until((es) => es.filter((e) => e.kind === 'REPLY_DELTA').length >= 5);
    const loads = await Promise.all(
      [ports.messages1, ports.messages2].map(async (port) => ((await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as any).generation.generating as number),
    );
    const victim = loads[0] === 1 ? messages1 : messages2;
    expect(loads.filter((n) => n === 1)).toHaveLength(1);
    victim.kill('SIGKILL');
    await victim.exited;
    // The subscriber on the gateway whose messages instance lives sees the reply end.
    const survivor = victim === messages1 ? subs[1] : subs[0];
    const events = await survivor.until((es) => es.some((e) => e.kind !== 'REPLY_DELTA' && e.kind !== 'MESSAGE_CREATED' && e.messageId === replyId), 30_000);
    const terminal = events.filter((e) => ['REPLY_COMPLETED', 'REPLY_FAILED', 'REPLY_CANCELLED'].includes(e.kind));
    expect(terminal.map((e) => e.kind)).toEqual(['REPLY_COMPLETED']);
    const survivorGateway = victim === messages1 ? gatewayB : gatewayA;
    const nodes = await settled(survivorGateway, me.token, me.conversationId);
    const replies = nodes.filter((n: any) => n.role === 'ASSISTANT').slice(1);
    expect(replies).toHaveLength(1);
    expect(replies[0]).toMatchObject({ id: replyId, status: 'COMPLETED' });
    const deltas = events.filter((e) => e.kind === 'REPLY_DELTA' && e.messageId === replyId);
    expect(deltas.map((d) => d.delta).join('')).toBe(replies[0].content);
    expect(deltas.map((d) => d.sequence)).toEqual(deltas.map((_, i) => (deltas[0].sequence as number) + i));
    const total = (await gql(survivorGateway, `query($id: ID!) { message(id: $id) { tokenUsage { totalTokens } } }`, { id: replyId }, me.token)).data.message.tokenUsage.totalTokens;
    const after = (await gql(survivorGateway, `{ me { credits } }`, {}, me.token)).data.me.credits;
    expect(after).toBe(before - total);
    subs.forEach((s) => s.stop());
    await Promise.all(clients.map((c) => c.dispose()));
  }, 90_000);

  it('on SIGTERM, a messages process finishes its running reply and a gateway closes its sockets with 1001, both exiting in bounded time', async () => {
    llm.setBehaviour({ tokens: Array.from({ length: 20 }, (_, i) => ` t${i}`), tokenDelayMs: 100 });
    const alive = [messages1, messages2].find((p) => p.child.exitCode === null && p.child.signalCode === null)!;
    const gateway = alive === messages1 ? gatewayA : gatewayB;
    const gatewayProcess = processes.find((p) => p.name === (alive === messages1 ? 'gatewayA' : 'gatewayB'))!;
    const me = spare!;
    const client = wsClient(gateway, me.token);
    const sub = collect<any>(client, EVENTS, { id: me.conversationId }, 'conversationEvents');
    await new Promise((r) => setTimeout(r, 300));
    const sent = await gql(gateway, `mutation($id: ID!) { sendMessage(input: { conversationId: $id, content: "wrap up" }) { reply { id } } }`, { id: me.conversationId }, me.token);
    const replyId = sent.data.sendMessage.reply.id;
    await sub.until((es) => es.filter((e) => e.kind === 'REPLY_DELTA').length >= 3);

    const started = Date.now();
    alive.kill('SIGTERM');
    expect(await alive.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(12_000);
    // Its running reply was finished before it exited.
    const db = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await db.connect();
    const { rows } = await db.query(`SELECT status, content FROM "${prefix}messages".messages WHERE id = $1`, [replyId]);
    await db.end();
    expect(rows[0].status).toBe('COMPLETED');
    expect(rows[0].content).toBe(Array.from({ length: 20 }, (_, i) => ` t${i}`).join(''));

    // An idle graphql-ws socket on the gateway is closed with 1001 (going away) when it stops.
    const socket = new WebSocket(gateway.replace(/^http/, 'ws'), 'graphql-transport-ws');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.once('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${me.token}` } })));
      socket.once('message', (data) => (JSON.parse(String(data)).type === 'connection_ack' ? resolve() : reject(new Error(String(data)))));
    });
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    const gatewayStarted = Date.now();
    gatewayProcess.kill('SIGTERM');
    expect(await gatewayProcess.exited).toBe(0);
    expect(Date.now() - gatewayStarted).toBeLessThan(12_000);
    expect(await closed).toBe(1001);
    sub.stop();
    await client.dispose();
  }, 60_000);
});
