/** How the gateway serves GraphiQL over HTTP (no browser): who gets the page, its assets, and when it is off. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from '@chat/shared/config';
import { createServiceKeyring, generateServiceKeySet } from '@chat/shared/service-auth';
import { startGateway, type RunningGateway } from '../../gateway/src/gateway';
import { startTestSystem, type TestSystem } from '../support/system';

const CHROME_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7';

describe('GraphiQL over HTTP', () => {
  let t: TestSystem;
  let origin: string;

  beforeAll(async () => {
    t = await startTestSystem('pglite');
    origin = new URL(t.gatewayUrl).origin;
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('is the page a browser gets at GET /graphql and at /, with a policy allowing this origin only', async () => {
    for (const url of [t.gatewayUrl, `${origin}/`]) {
      const res = await fetch(url, { headers: { accept: CHROME_ACCEPT } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('content-security-policy')).toContain("default-src 'none'; script-src 'self'");
      expect(res.headers.get('content-security-policy')).toContain("connect-src 'self'");
      const html = await res.text();
      expect(html).toContain('id="graphiql-config"');
      // Nothing on the page points at another host.
      expect(html.match(/(?:src|href)="([^"]*)"/g)!.every((attr) => !/(?:src|href)="(?:https?:)?\/\//.test(attr))).toBe(true);
    }
  });

  it('serves every asset the page names, from the installed packages, cacheable and gzipped on request', async () => {
    const html = await (await fetch(t.gatewayUrl, { headers: { accept: CHROME_ACCEPT } })).text();
    const urls = [...html.matchAll(/(?:src|href)="(graphiql\/assets\/[^"]+)"/g)].map((m) => new URL(m[1], t.gatewayUrl).href);
    expect(urls.map((u) => u.split('/').at(-1))).toEqual([
      'graphiql.min.css', 'page.css', 'react.production.min.js', 'react-dom.production.min.js', 'graphql-ws.min.js', 'graphql-sse.min.js', 'graphiql.min.js', 'setup.js',
    ]);
    for (const url of urls) {
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(url.endsWith('.css') ? /^text\/css/ : /^text\/javascript/);
      expect(res.headers.get('cache-control')).toContain('immutable');
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(100);
      const again = await fetch(url, { headers: { 'if-none-match': res.headers.get('etag')! } });
      expect(again.status).toBe(304);
    }
    // fetch asks for gzip and inflates: the big bundle travels compressed.
    const bundle = urls.find((u) => u.endsWith('/graphiql.min.js'))!;
    const raw = await fetch(bundle, { headers: { 'accept-encoding': 'identity' } });
    const zipped = await fetch(bundle, { headers: { 'accept-encoding': 'gzip' } });
    expect(zipped.headers.get('content-encoding')).toBe('gzip');
    expect(await zipped.text()).toBe(await raw.text());
    expect((await fetch(`${origin}/graphiql/assets/x/nothing.js`)).status).toBe(404);
  });

  it('leaves GraphQL over HTTP as it was for every other client', async () => {
    const get = await fetch(`${t.gatewayUrl}?query=${encodeURIComponent('{ __typename }')}`, { headers: { accept: 'application/json', 'apollo-require-preflight': 'true' } });
    expect(await get.json()).toEqual({ data: { __typename: 'Query' } });
    // curl's */* is not a browser.
    const curl = await fetch(t.gatewayUrl, { headers: { accept: '*/*' } });
    expect(curl.headers.get('content-type')).toMatch(/^application\/json/);
    const post = await t.gql('{ __typename }');
    expect(post.data).toEqual({ __typename: 'Query' });
    const head = await fetch(`${origin}/`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });
});

describe('GRAPHIQL', () => {
  it('is on outside production, off in production unless GRAPHIQL=true', () => {
    expect(loadConfig({}).graphiql).toBe(true);
    expect(loadConfig({ NODE_ENV: 'test' }).graphiql).toBe(true);
    expect(loadConfig({ GRAPHIQL: 'false' }).graphiql).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production' }).graphiql).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production', GRAPHIQL: 'true' }).graphiql).toBe(true);
    expect(() => loadConfig({ GRAPHIQL: 'yes' })).toThrow(ConfigError);
    expect(() => loadConfig({ GRAPHIQL: 'yes' })).toThrow('GRAPHIQL');
  });

  /** A gateway alone (its subgraphs are not needed to serve pages or introspection). */
  async function gateway(env: Record<string, string>): Promise<RunningGateway> {
    return startGateway(loadConfig({ DATA_DIR: 'memory://', LOG_LEVEL: 'silent', ...env }), createServiceKeyring(generateServiceKeySet()), { port: 0 });
  }
  const introspect = (g: RunningGateway) =>
    fetch(g.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ __schema { queryType { name } } }' }) }).then((r) => r.json() as Promise<any>);

  it('off: no page, no assets, and in production no introspection either', async () => {
    const g = await gateway({ NODE_ENV: 'production' });
    try {
      expect((await fetch(`${g.origin}/`, { headers: { accept: CHROME_ACCEPT } })).status).toBe(404);
      const page = await fetch(g.url, { headers: { accept: CHROME_ACCEPT } });
      expect(page.headers.get('content-type')).not.toMatch(/text\/html/);
      expect((await fetch(`${g.origin}/graphiql/assets/x/graphiql.min.js`)).status).toBe(404);
      expect((await introspect(g)).errors).toBeDefined();
    } finally {
      await g.close();
    }
  });

  it('GRAPHIQL=true in production: the page, and the introspection it needs for docs and completion', async () => {
    const g = await gateway({ NODE_ENV: 'production', GRAPHIQL: 'true' });
    try {
      const page = await fetch(g.url, { headers: { accept: CHROME_ACCEPT } });
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect((await introspect(g)).data).toEqual({ __schema: { queryType: { name: 'Query' } } });
    } finally {
      await g.close();
    }
  });
});
