/**
 * The whole gateway on the benchmark scenario (bench/gateway), with the data source of
 * gateway/src/datasource.ts and the fetcher of gateway/src/fetcher.ts (unit-tested beside them):
 * the right answer, with far fewer subgraph requests.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startGateway, type RunningGateway } from '@chat/gateway';
import { loadConfig } from '@chat/shared/config';
import { createServiceKeyring, generateServiceKeySet } from '@chat/shared/service-auth';
import { expectedTestQueryResult, testQuery } from '../../bench/gateway/expected';
import { benchSupergraph, startBenchSubgraphs, STATS_PATH, type RunningBenchSubgraphs, type SubgraphStats } from '../../bench/gateway/subgraphs';

describe('the gateway on the benchmark scenario', () => {
  let subgraphs: RunningBenchSubgraphs;
  let gateway: RunningGateway;
  const stats = async () => (await (await fetch(`${subgraphs.origin}${STATS_PATH}`)).json()) as SubgraphStats;

  beforeAll(async () => {
    subgraphs = await startBenchSubgraphs();
    // The benchmark's stand-in subgraphs check no service token.
    const keyring = createServiceKeyring(generateServiceKeySet());
    gateway = await startGateway(loadConfig({ NODE_ENV: 'test', PORT: '0' }), keyring, { port: 0, supergraphSdl: benchSupergraph(subgraphs.origin) });
  });
  afterAll(async () => {
    await gateway?.close();
    await subgraphs?.close();
  });

  const run = async () => {
    const response = await fetch(gateway.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: testQuery() }) });
    return { status: response.status, body: (await response.json()) as unknown };
  };

  it('answers the TestQuery right with one request per fetch of its plan, none repeated', async () => {
    const before = await stats();
    const { status, body } = await run();
    expect(status).toBe(200);
    expect(body).toEqual(expectedTestQueryResult());
    // The plan has 16 fetches; @apollo/gateway's own data source sends 465 representations with them, ours 27.
    const after = await stats();
    expect(after.requests - before.requests).toBe(16);
    expect(after.requestBytes - before.requestBytes).toBeLessThan(8_000);
  });

  it('answers concurrent TestQueries right while sharing their fetches', async () => {
    const before = await stats();
    const answers = await Promise.all(Array.from({ length: 10 }, run));
    for (const { status, body } of answers) {
      expect(status).toBe(200);
      expect(body).toEqual(expectedTestQueryResult());
    }
    expect((await stats()).requests - before.requests).toBeLessThan(10 * 16);
  });
});
