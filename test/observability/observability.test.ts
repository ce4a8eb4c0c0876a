/**
 * Observability end to end on PostgreSQL + Redis: one sendMessage is one trace across the gateway,
 * the messages subgraph, its database, the Redis job queue and events, and the provider call (the
 * fake provider receives the same trace id on the wire); /metrics moves as work happens; the
 * gateway's /health turns degraded when a subgraph stops and healthy when it returns; systemStatus
 * is for admins only.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { startTracing, TRACE_ID_HEADER, type Tracing } from '@chat/shared/tracing';
import { startSubgraph } from '@chat/system';
import { startFakeLlm, type FakeLlmServer } from '../support/fake-llm';
import { startTestSystem, type TestSystem } from '../support/system';
import { collect, wsClient } from '../support/ws';
import { EVENTS, SEND, START_TIMEOUT_MS, startChat, waitUntil, type Chat } from '../chat/helpers';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** The value of one sample of a metric in Prometheus text, matching every given label (0 when absent). */
async function metric(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(url)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

describe('observability (postgres + redis)', () => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;
  let llm: FakeLlmServer;
  let t: TestSystem;
  let chat: Chat;
  let restarted: Awaited<ReturnType<typeof startSubgraph>> | undefined;
  const origin = (url: string) => new URL(url).origin;

  beforeAll(async () => {
    tracing = startTracing({ tracing: {} }, 'observability-test', [new SimpleSpanProcessor(exporter)]);
    llm = await startFakeLlm({ tokens: ['Elementary', ',', ' my', ' dear', ' Watson', '.'], tokenDelayMs: 5 });
    t = await startTestSystem('postgres', { REDIS_URL, LLM_PROVIDER: 'openai', LLM_BASE_URL: llm.baseUrl, LLM_MODEL: 'trace-model', SESSION_GRACE_MS: '0' });
    chat = await startChat(t, { name: 'Tracer' });
  }, START_TIMEOUT_MS);

  afterAll(async () => {
    await restarted?.close();
    await t?.stop();
    await llm?.close();
    await tracing?.shutdown();
  });

  it('follows one sendMessage through gateway, messages, database, queue, provider and events in one trace', async () => {
    const client = wsClient(t.gatewayUrl, chat.user.token);
    const events = collect<any>(client, EVENTS, { id: chat.conversationId }, 'conversationEvents');
    // The subscription's start carried its own trace to the messages subgraph over graphql-ws.
    const opening = (scope: string, prefix: string) =>
      exporter.getFinishedSpans().find((s) => s.instrumentationScope.name === `character-chat/${scope}` && s.name.startsWith(prefix));
    await waitUntil(() => opening('messages', 'subscribe ') !== undefined, 10_000, 'the upstream subscribe span');
    expect(opening('messages', 'subscribe ')!.spanContext().traceId).toBe(opening('gateway', 'subscription ')?.spanContext().traceId);
    exporter.reset();
    const response = await fetch(t.gatewayUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${chat.user.token}` },
      body: JSON.stringify({ query: SEND.replace('mutation(', 'mutation SendMessage('), variables: { input: { conversationId: chat.conversationId, content: 'The game is afoot' } } }),
    });
    const traceId = response.headers.get(TRACE_ID_HEADER);
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(((await response.json()) as any).errors).toBeUndefined();
    await events.until((es) => es.some((e) => e.kind === 'REPLY_COMPLETED'));
    events.stop();
    await client.dispose();

    // Spans end as their work ends: the event hop is the last.
    const inTrace = () => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    const ended = (name: string) => inTrace().some((s) => s.name === name);
    await waitUntil(() => ended('event REPLY_COMPLETED received') && ended('reply generate'), 10_000, 'the reply and event spans');
    const spans = inTrace();
    const find = (scope: string, name: string | RegExp) =>
      spans.find((s) => s.instrumentationScope.name === `character-chat/${scope}` && (typeof name === 'string' ? s.name === name : name.test(s.name)));
    const gateway = find('gateway', 'mutation SendMessage');
    const fetchMessages = find('gateway', 'fetch messages');
    const messages = find('messages', /^mutation /);
    const database = find('messages', /^db (INSERT|SELECT)/);
    const generate = find('messages', 'reply generate');
    const provider = find('messages', 'llm openai stream');
    expect({ gateway, fetchMessages, messages, database, generate, provider }).toEqual({
      gateway: expect.anything(),
      fetchMessages: expect.anything(),
      messages: expect.anything(),
      database: expect.anything(),
      generate: expect.anything(),
      provider: expect.anything(),
    });
    // Ancestry: gateway → its fetch (under @apollo/gateway's own plan and execute spans) → the subgraph's
    // request → its database queries; the reply's generation, across the queue, under the request that queued it.
    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
    const descends = (span: ReadableSpan, ancestor: ReadableSpan): boolean => {
      for (let at = span.parentSpanContext?.spanId; at; at = byId.get(at)?.parentSpanContext?.spanId) {
        if (at === ancestor.spanContext().spanId) return true;
      }
      return false;
    };
    expect(descends(fetchMessages!, gateway!)).toBe(true);
    expect(messages!.parentSpanContext?.spanId).toBe(fetchMessages!.spanContext().spanId);
    expect(descends(database!, messages!) || descends(database!, generate!)).toBe(true);
    expect(descends(generate!, messages!)).toBe(true);
    expect(provider!.parentSpanContext?.spanId).toBe(generate!.spanContext().spanId);
    expect(provider!.events.map((e) => e.name)).toContain('first token');
    expect(provider!.attributes['gen_ai.request.model']).toBe('trace-model');
    expect(provider!.attributes['llm.pieces']).toBe(6);
    expect(provider!.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
    expect(provider!.attributes['llm.time_to_first_token_ms']).toBeGreaterThanOrEqual(0);
    // On the wire: the provider was called with this trace's traceparent.
    const call = llm.requests.at(-1)!;
    expect(String(call.headers.traceparent)).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
  });

  it('counts operations, fetches, sockets, replies, tokens, queue and refusals in /metrics', async () => {
    const gatewayMetrics = `${origin(t.gatewayUrl)}/metrics`;
    const messagesMetrics = `${origin(t.system.subgraphs.messages.url)}/metrics`;
    const usersMetrics = `${origin(t.system.subgraphs.users.url)}/metrics`;
    const operation = { operation: 'WhoAmI', type: 'query', outcome: 'ok' };
    const before = await metric(gatewayMetrics, 'chat_graphql_operation_duration_seconds_count', operation);
    const fetchesBefore = await metric(gatewayMetrics, 'chat_subgraph_fetch_duration_seconds_count', { subgraph: 'users' });
    await t.gql('query WhoAmI { me { id } }', {}, chat.user.token);
    await t.gql('query WhoAmI { me { id } }', {}, chat.user.token);
    expect(await metric(gatewayMetrics, 'chat_graphql_operation_duration_seconds_count', operation)).toBe(before + 2);
    expect(await metric(gatewayMetrics, 'chat_subgraph_fetch_duration_seconds_count', { subgraph: 'users' })).toBe(fetchesBefore + 2);
    expect(await metric(usersMetrics, 'chat_db_query_duration_seconds_count')).toBeGreaterThan(0);

    const sockets = await metric(gatewayMetrics, 'chat_ws_connections');
    const subscriptions = await metric(gatewayMetrics, 'chat_ws_subscriptions');
    const client = wsClient(t.gatewayUrl, chat.user.token);
    const events = collect<any>(client, EVENTS, { id: chat.conversationId }, 'conversationEvents');
    await waitUntil(async () => (await metric(gatewayMetrics, 'chat_ws_subscriptions')) === subscriptions + 1, 10_000, 'one more open subscription');
    expect(await metric(gatewayMetrics, 'chat_ws_connections')).toBe(sockets + 1);
    const completed = await metric(messagesMetrics, 'chat_replies_total', { outcome: 'completed' });
    const ttft = await metric(messagesMetrics, 'chat_reply_time_to_first_token_seconds_count', { provider: 'openai', model: 'trace-model' });
    const tokens = await metric(messagesMetrics, 'chat_tokens_total', { kind: 'completion' });
    const credits = await metric(messagesMetrics, 'chat_credits_charged_total');
    const sent = await t.gql(SEND, { input: { conversationId: chat.conversationId, content: 'Another case' } }, chat.user.token);
    expect(sent.errors).toBeUndefined();
    await events.until((es) => es.some((e) => e.kind === 'REPLY_COMPLETED' && e.messageId === sent.data.sendMessage.reply.id));
    await waitUntil(async () => (await metric(messagesMetrics, 'chat_credits_charged_total')) > credits, 5_000, 'the charge');
    expect(await metric(messagesMetrics, 'chat_replies_total', { outcome: 'completed' })).toBe(completed + 1);
    expect(await metric(messagesMetrics, 'chat_reply_time_to_first_token_seconds_count', { provider: 'openai', model: 'trace-model' })).toBe(ttft + 1);
    expect(await metric(messagesMetrics, 'chat_tokens_total', { kind: 'completion' })).toBeGreaterThan(tokens);
    expect(await metric(messagesMetrics, 'chat_generation_job_age_seconds_count')).toBeGreaterThan(0);
    expect(await (await fetch(messagesMetrics)).text()).toMatch(/chat_generation_queue_depth\{state="waiting",service="messages"\} 0/);
    events.stop();
    await client.dispose();
    await waitUntil(async () => (await metric(gatewayMetrics, 'chat_ws_connections')) === sockets, 10_000, 'the socket closed');
    expect(await metric(gatewayMetrics, 'chat_ws_subscriptions')).toBe(subscriptions);

    // Wrong passwords past the per-account throttle (5 in 5 minutes) are refused and counted.
    const refusals = await metric(usersMetrics, 'chat_rate_limit_refusals_total', { limit: 'login' });
    const email = `${chat.user.email}`;
    for (let i = 0; i < 6; i += 1) await t.gql('mutation($i: LoginInput!) { login(input: $i) { accessToken } }', { i: { email, password: 'wrong password!' } });
    expect(await metric(usersMetrics, 'chat_rate_limit_refusals_total', { limit: 'login' })).toBe(refusals + 1);
  });

  it('shows queue, replies, subscriptions and breakers in systemStatus, to admins only', async () => {
    const query = 'query { systemStatus { instance queueDepth jobsPending repliesInFlight openSubscriptions providers { name defaultModel breakerState } checkedAt } }';
    const refused = await t.gql(query, {}, chat.user.token);
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const admin = await t.signUpAdmin();
    const open = async () => (await t.gql(query, {}, admin.token)).data.systemStatus.openSubscriptions as number;
    const before = await open();
    const client = wsClient(t.gatewayUrl, chat.user.token);
    const events = collect<any>(client, EVENTS, { id: chat.conversationId }, 'conversationEvents');
    await waitUntil(async () => (await open()) === before + 1, 10_000, 'the subscription counted');
    const status = (await t.gql(query, {}, admin.token)).data.systemStatus;
    expect(status).toMatchObject({ queueDepth: 0, repliesInFlight: 0, openSubscriptions: before + 1, providers: [{ name: 'openai', defaultModel: 'trace-model', breakerState: 'CLOSED' }] });
    expect(status.instance).toMatch(/:\d+$/);
    events.stop();
    await client.dispose();
  });

  it("reports each subgraph, the database and Redis in the gateway's /health, degraded while a subgraph is down", async () => {
    const health = async () => {
      const response = await fetch(`${origin(t.gatewayUrl)}/health`);
      expect(response.status).toBe(200);
      return (await response.json()) as any;
    };
    const healthy = await health();
    expect(healthy).toMatchObject({ status: 'healthy', service: 'gateway', version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    expect(Object.keys(healthy.dependencies).sort()).toEqual(['characters', 'conversations', 'database', 'messages', 'redis', 'users']);
    for (const dependency of Object.values(healthy.dependencies) as any[]) {
      expect(dependency).toMatchObject({ status: 'healthy', response_time_ms: expect.any(Number) });
    }
    const ready = await fetch(`${origin(t.system.subgraphs.messages.url)}/ready`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as any).dependencies).toMatchObject({ database: { status: 'healthy' }, redis: { status: 'healthy' } });

    await t.system.subgraphs.characters.close();
    const degraded = await health();
    expect(degraded.status).toBe('degraded');
    expect(degraded.dependencies.characters).toMatchObject({ status: 'unhealthy', error: expect.any(String) });
    expect(degraded.dependencies.users.status).toBe('healthy');

    restarted = await startSubgraph('characters', t.config, t.system.keyring);
    expect((await health()).status).toBe('healthy');
  });
});
