/**
 * `npm start`'s process as an operator sees it. Logs: JSON lines, one per operation and per reply,
 * carrying the trace id the client got back, the operation name and the user id, and never a
 * password, a token or a message's text. Traces: exported over OTLP/HTTP (to a local receiver
 * standing in for the collector), one message's whole path under the trace id the client got.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SUBGRAPH_NAMES } from '@chat/shared/config';
import { TRACE_ID_HEADER } from '@chat/shared/tracing';
import { freePort } from '../support/ports';
import { startProcess, waitHealthy, type ServiceProcess } from '../support/processes';
import { waitUntil } from '../chat/helpers';

const PASSWORD = 'correct horse battery staple';
const SECRET_TEXT = 'my saffron recipe is forty-two threads';

describe('logs of the whole system in one process', () => {
  let system: ServiceProcess;
  let gateway: string;
  let receiver: Server;
  const lines: string[] = [];
  /** Spans the process exported, as OTLP/JSON `{ scope, name, traceId }`. */
  const exported: Array<{ scope: string; name: string; traceId: string }> = [];

  beforeAll(async () => {
    // An OTLP/HTTP receiver: what a collector would get at /v1/traces.
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        if (req.url === '/v1/traces') {
          for (const resource of JSON.parse(body).resourceSpans ?? []) {
            for (const scoped of resource.scopeSpans ?? []) {
              for (const span of scoped.spans ?? []) exported.push({ scope: scoped.scope?.name, name: span.name, traceId: span.traceId });
            }
          }
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const ports = await Promise.all([0, 1, 2, 3, 4].map(() => freePort()));
    system = startProcess('system', 'scripts/start-all.ts', {
      NODE_ENV: 'development',
      LOG_LEVEL: 'info',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`,
      // The SDK's batch delay (an OpenTelemetry variable), short so the test need not wait 5 s.
      OTEL_BSP_SCHEDULE_DELAY: '200',
      DATA_DIR: 'memory://',
      // Embedded storage and bus whatever this environment says (.ci/run exports both): nothing outlives the test.
      DATABASE_URL: '',
      REDIS_URL: '',
      PORT: String(ports[0]),
      OFFLINE_WORD_DELAY_MS: '1',
      ...Object.fromEntries(SUBGRAPH_NAMES.map((name, i) => [`${name.toUpperCase()}_URL`, `http://127.0.0.1:${ports[i + 1]}/graphql`])),
    });
    let partial = '';
    system.child.stdout!.on('data', (chunk: Buffer) => {
      const text = partial + chunk.toString();
      const complete = text.split('\n');
      partial = complete.pop() ?? '';
      lines.push(...complete.filter(Boolean));
    });
    gateway = `http://127.0.0.1:${ports[0]}/graphql`;
    await waitHealthy(`http://127.0.0.1:${ports[0]}/ready`, system, 90_000);
  }, 120_000);

  afterAll(async () => {
    await system?.stop();
    receiver?.close();
  });

  async function gql(query: string, variables: Record<string, unknown>, token?: string) {
    const response = await fetch(gateway, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    return { traceId: response.headers.get(TRACE_ID_HEADER), body: (await response.json()) as any };
  }

  it("logs each operation and reply with trace id, operation and user and no secrets, and exports the message's whole trace over OTLP", async () => {
    const registered = await gql('mutation Register($i: RegisterInput!) { register(input: $i) { accessToken refreshToken user { id } } }', {
      i: { email: 'logs@example.com', password: PASSWORD, displayName: 'Logger' },
    });
    expect(registered.body.errors).toBeUndefined();
    const { accessToken, refreshToken, user } = registered.body.data.register;
    const character = await gql('mutation { createCharacter(input: { name: "Mrs Hudson" }) { id } }', {}, accessToken);
    const conversation = await gql('mutation($c: ID!) { startConversation(input: { characterId: $c }) { id } }', { c: character.body.data.createCharacter.id }, accessToken);
    const sent = await gql(
      'mutation SendMessage($i: SendMessageInput!) { sendMessage(input: $i) { reply { id } } }',
      { i: { conversationId: conversation.body.data.startConversation.id, content: SECRET_TEXT } },
      accessToken,
    );
    expect(sent.body.errors).toBeUndefined();
    expect(sent.traceId).toMatch(/^[0-9a-f]{32}$/);
    const refreshed = await gql('mutation Refresh($t: String!) { refreshSession(refreshToken: $t) { accessToken } }', { t: refreshToken });
    expect(refreshed.body.errors).toBeUndefined();

    // Every line is JSON but the banner npm start prints for people.
    const entries = () => lines.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, any>);
    const ofTrace = () => entries().filter((e) => e.traceId === sent.traceId);
    await waitUntil(() => ofTrace().some((e) => e.msg === 'reply'), 15_000, 'the reply log line');

    const [gatewayLine] = ofTrace().filter((e) => e.name === 'gateway' && e.msg === 'graphql operation');
    expect(gatewayLine).toMatchObject({ operation: 'SendMessage', type: 'mutation', outcome: 'ok', userId: user.id, durationMs: expect.any(Number) });
    expect(ofTrace().filter((e) => e.name === 'messages' && e.msg === 'graphql operation')).toEqual([
      expect.objectContaining({ type: 'mutation', outcome: 'ok', userId: user.id }),
    ]);
    expect(ofTrace().find((e) => e.msg === 'reply')).toMatchObject({ name: 'messages', outcome: 'completed', userId: user.id, provider: 'offline' });

    const everything = lines.join('\n');
    for (const secret of [PASSWORD, accessToken, refreshToken, SECRET_TEXT, 'Bearer ']) expect(everything).not.toContain(secret);

    // The collector received the message's whole path under that trace id.
    const path = ['character-chat/gateway mutation SendMessage', 'character-chat/gateway fetch messages', 'character-chat/messages reply generate', 'character-chat/messages llm offline stream'];
    const traced = () => exported.filter((s) => s.traceId === sent.traceId).map((s) => `${s.scope} ${s.name}`);
    await waitUntil(() => path.every((step) => traced().includes(step)), 15_000, 'the exported trace');
    expect(traced().some((step) => step.startsWith('character-chat/messages mutation '))).toBe(true);
    expect(traced().some((step) => step.startsWith('character-chat/messages db '))).toBe(true);
  });

  it('stops in order on SIGTERM outside tests: logs it, exits 0 (no server re-raises the signal midway)', async () => {
    system.kill('SIGTERM');
    expect(await system.exited).toBe(0);
    expect(system.child.signalCode).toBeNull();
    expect(lines.some((line) => line.startsWith('{') && JSON.parse(line).msg === 'stopping')).toBe(true);
  }, 20_000);
});
