/**
 * Health in the seeds' format (`status`, `service`, `version`, `timestamp`, `dependencies` with
 * `status` and `response_time_ms`): `/health` says the process is alive, `/ready` that what it
 * depends on answers.
 */
import { readFileSync } from 'node:fs';
import { sendJson, type Route } from './http';

/** The project's version, as every service reports it. */
export const SERVICE_VERSION: string = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
/** Longest a dependency check may take before it counts as down. */
export const HEALTH_CHECK_TIMEOUT_MS = 2_000;
export const HEALTH_PATH = '/health';
export const READY_PATH = '/ready';

/** One dependency's state. */
export interface DependencyReport {
  status: 'healthy' | 'unhealthy';
  response_time_ms: number;
  error?: string;
  /** What the dependency itself reported (e.g. a subgraph's own dependencies). */
  details?: unknown;
}

/** A service's health. */
export interface HealthReport {
  status: 'healthy' | 'degraded' | 'unhealthy';
  service: string;
  version: string;
  timestamp: string;
  dependencies?: Record<string, DependencyReport>;
  [extra: string]: unknown;
}

/** A dependency check: resolves (optionally with details) when the dependency answers, throws when not. */
export type Check = () => Promise<unknown>;

/** Runs one check against HEALTH_CHECK_TIMEOUT_MS, timing it. */
export async function runCheck(check: Check): Promise<DependencyReport> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${HEALTH_CHECK_TIMEOUT_MS} ms`)), HEALTH_CHECK_TIMEOUT_MS);
    });
    const details = await Promise.race([check(), timeout]);
    return { status: 'healthy', response_time_ms: elapsed(started), ...(details === undefined ? {} : { details }) };
  } catch (error) {
    return { status: 'unhealthy', response_time_ms: elapsed(started), error: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs every check at once. */
export async function runChecks(checks: Record<string, Check>): Promise<Record<string, DependencyReport>> {
  const names = Object.keys(checks);
  const reports = await Promise.all(names.map((name) => runCheck(checks[name]!)));
  return Object.fromEntries(names.map((name, i) => [name, reports[i]!]));
}

/** A report; `degraded` when any dependency is down. */
export function healthReport(service: string, dependencies?: Record<string, DependencyReport>, extra: Record<string, unknown> = {}): HealthReport {
  const down = Object.values(dependencies ?? {}).some((d) => d.status !== 'healthy');
  return {
    status: down ? 'degraded' : 'healthy',
    service,
    version: SERVICE_VERSION,
    timestamp: new Date().toISOString(),
    ...extra,
    ...(dependencies ? { dependencies } : {}),
  };
}

/** What a service's health routes need. */
export interface HealthOptions {
  service: string;
  /** What must answer for the service to be ready (its database, Redis…). */
  checks: Record<string, Check>;
  /** Extra fields for /health (e.g. the generator's load). */
  details?: () => Promise<Record<string, unknown>>;
  /** True once the service is shutting down: /ready answers 503 so balancers stop sending work. */
  draining?: () => boolean;
}

/** `/health` (alive: 200 while the process serves) and `/ready` (200 when every check passes, else 503). */
export function healthRoutes(options: HealthOptions): Record<string, Route> {
  return {
    [HEALTH_PATH]: async (_req, res) => sendJson(res, 200, healthReport(options.service, undefined, (await options.details?.()) ?? {})),
    [READY_PATH]: async (_req, res) => {
      const report = healthReport(options.service, await runChecks(options.checks));
      const draining = options.draining?.() ?? false;
      sendJson(res, report.status === 'healthy' && !draining ? 200 : 503, draining ? { ...report, status: 'unhealthy', draining } : report);
    },
  };
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}
