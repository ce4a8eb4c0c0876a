/**
 * The gateway's health: `/health` asks every subgraph's `/ready` and reports each, with the
 * database and Redis as the subgraphs found them; `degraded` when any is down.
 */
import { SUBGRAPH_NAMES, type Config } from '@chat/shared/config';
import { HEALTH_CHECK_TIMEOUT_MS, HEALTH_PATH, healthReport, READY_PATH, type DependencyReport, type HealthReport } from '@chat/shared/health';
import { sendJson, type Route } from '@chat/shared/http';

/** What one subgraph's /ready said, and how long it took. */
interface Probe {
  report: DependencyReport;
  body?: HealthReport;
}

async function probe(subgraphUrl: string): Promise<Probe> {
  const started = performance.now();
  const elapsed = () => Math.round((performance.now() - started) * 10) / 10;
  try {
    const response = await fetch(new URL(READY_PATH, subgraphUrl), { signal: AbortSignal.timeout(HEALTH_CHECK_TIMEOUT_MS) });
    const body = (await response.json()) as HealthReport;
    const status = response.ok ? 'healthy' : 'unhealthy';
    return { report: { status, response_time_ms: elapsed(), ...(response.ok ? {} : { error: `ready answered ${response.status}` }) }, body };
  } catch (error) {
    return { report: { status: 'unhealthy', response_time_ms: elapsed(), error: error instanceof Error ? error.message : String(error) } };
  }
}

/** A shared dependency (database, Redis) as the subgraphs that answered found it: down if any found it down. */
function combined(probes: Probe[], name: string): DependencyReport {
  const seen = probes.flatMap((p) => (p.body?.dependencies?.[name] ? [p.body.dependencies[name]] : []));
  if (seen.length === 0) return { status: 'unhealthy', response_time_ms: 0, error: 'no subgraph reported it' };
  const down = seen.find((d) => d.status !== 'healthy');
  return { status: down ? 'unhealthy' : 'healthy', response_time_ms: Math.max(...seen.map((d) => d.response_time_ms)), ...(down?.error ? { error: down.error } : {}) };
}

/** The gateway's `/health` (subgraphs, database, Redis) and `/ready` (serving, not draining). */
export function gatewayHealthRoutes(config: Pick<Config, 'subgraphUrls' | 'redisUrl'>, draining: () => boolean): Record<string, Route> {
  return {
    [HEALTH_PATH]: async (_req, res) => {
      const probes = await Promise.all(SUBGRAPH_NAMES.map((name) => probe(config.subgraphUrls[name])));
      const dependencies: Record<string, DependencyReport> = Object.fromEntries(SUBGRAPH_NAMES.map((name, i) => [name, probes[i]!.report]));
      dependencies.database = combined(probes, 'database');
      if (config.redisUrl) dependencies.redis = combined(probes, 'redis');
      sendJson(res, 200, healthReport('gateway', dependencies));
    },
    [READY_PATH]: (_req, res) => sendJson(res, draining() ? 503 : 200, { ...healthReport('gateway'), ...(draining() ? { status: 'unhealthy', draining: true } : {}) }),
  };
}
