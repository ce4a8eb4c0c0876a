/**
 * A system on embedded defaults talks only to its own parts: nothing it does, from start to stop,
 * opens an HTTP request to another host. @apollo/gateway sends Apollo usage metrics unless
 * APOLLO_TELEMETRY_DISABLED says otherwise, so the gateway turns them off unless the operator asks.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadConfig } from '@chat/shared/config';
import { APOLLO_TELEMETRY_SWITCH } from '../../gateway/src/gateway';
import { startTestSystem } from '../support/system';

/** Node's channels for outgoing HTTP: node:http(s) requests and fetch (undici). */
const HTTP_CLIENT_CHANNELS = ['http.client.request.start', 'undici:request:create'] as const;
const OWN_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

describe('outbound requests', () => {
  const hosts: string[] = [];
  const record = (message: unknown) => {
    const { request } = message as { request: { host?: string; origin?: string | URL } };
    const host = request.origin ? new URL(String(request.origin)).hostname : (request.host ?? '');
    hosts.push(host);
  };
  beforeAll(() => {
    // The switch as a fresh process has it: whatever an earlier gateway in this worker set is forgotten.
    delete process.env[APOLLO_TELEMETRY_SWITCH];
    for (const channel of HTTP_CLIENT_CHANNELS) subscribe(channel, record);
  });
  afterAll(() => {
    for (const channel of HTTP_CLIENT_CHANNELS) unsubscribe(channel, record);
  });

  it('go only to the system’s own addresses, from start to stop', async () => {
    const t = await startTestSystem('pglite');
    const user = await t.signUp('Homebody');
    const me = await t.gql('{ me { id } }', {}, user.token);
    expect(me.data.me.id).toBe(user.id);
    await t.stop();
    expect(process.env[APOLLO_TELEMETRY_SWITCH]).toBe('true');
    expect(hosts.length).toBeGreaterThan(0);
    expect(hosts.filter((host) => !OWN_HOSTS.has(host))).toEqual([]);
  });

  it('leave Apollo’s usage metrics off unless APOLLO_TELEMETRY_DISABLED=false', () => {
    expect(loadConfig({}).apolloTelemetry).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production' }).apolloTelemetry).toBe(false);
    expect(loadConfig({ APOLLO_TELEMETRY_DISABLED: 'false' }).apolloTelemetry).toBe(true);
    expect(() => loadConfig({ APOLLO_TELEMETRY_DISABLED: 'maybe' })).toThrow(/APOLLO_TELEMETRY_DISABLED must be true or false/);
  });
});
