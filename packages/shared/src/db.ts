import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PGliteDialect, PostgresDialect, sql, type LogEvent } from 'kysely';
import { Migrator, type Migration } from 'kysely/migration';
import { SpanKind, trace } from '@opentelemetry/api';
import pg from 'pg';
import type { Config } from './config';
import type { ServiceTelemetry } from './telemetry';

/** A subgraph's own database: embedded PGlite or one schema on a PostgreSQL server, migrated. */
export interface Database<DB> {
  db: Kysely<DB>;
  /** Which engine runs the SQL. */
  engine: 'pglite' | 'postgres';
  /** Queries run since start; tests read it to prove batching. */
  stats: { queries: number };
  /** One round trip (`SELECT 1`), for readiness checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** What openDatabase needs: the subgraph's name (its folder or schema) and its migrations, in order. */
export interface DatabaseOptions {
  name: string;
  config: Pick<Config, 'dataDir' | 'databaseUrl' | 'databaseSchemaPrefix'>;
  migrations: Record<string, Migration>;
  /** Where query latency goes (a histogram, and a span under the active one). */
  telemetry?: Pick<ServiceTelemetry, 'metrics' | 'tracer'>;
}

/** Where the pristine cluster of this PGlite version is cached between processes. */
function pristineFile(): string {
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  const root = entry.slice(0, entry.lastIndexOf(`${sep}dist${sep}`));
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  return join(tmpdir(), 'character-chat', `pglite-${version}-pristine.tar`);
}

/**
 * A freshly initialised cluster (what initdb makes), made once and cached on disk: restoring it
 * takes a fraction of the time initdb does, for every new embedded database (tests make many).
 */
let pristineCluster: Promise<Blob> | undefined;
function pristine(): Promise<Blob> {
  pristineCluster ??= (async () => {
    const file = pristineFile();
    if (existsSync(file)) return new Blob([readFileSync(file)]);
    const fresh = await PGlite.create();
    const dump = await fresh.dumpDataDir('none');
    await fresh.close();
    mkdirSync(dirname(file), { recursive: true });
    // Written aside and renamed, so a concurrent reader never sees half a file.
    const partial = `${file}.${process.pid}.tmp`;
    writeFileSync(partial, Buffer.from(await dump.arrayBuffer()));
    renameSync(partial, file);
    return dump;
  })();
  return pristineCluster;
}

/** An embedded database: in memory, or in `dir` (created from the pristine cluster the first time). */
async function openPglite(dataDir: string, name: string): Promise<PGlite> {
  if (dataDir === 'memory://') return PGlite.create({ loadDataDir: await pristine() });
  const dir = join(dataDir, name);
  if (existsSync(join(dir, 'PG_VERSION'))) return PGlite.create({ dataDir: dir });
  mkdirSync(dir, { recursive: true });
  return PGlite.create({ dataDir: dir, loadDataDir: await pristine() });
}

// pg returns int8 and numeric as strings; our counters fit in a JS number.
const PG_INT8_OID = 20;
pg.types.setTypeParser(PG_INT8_OID, (v) => Number(v));

/** The advisory lock that serialises schema changes on a server (any key nobody else uses). */
export const SCHEMA_CHANGE_LOCK = 0x63686174; // "chat"

/**
 * Runs `change` while holding SCHEMA_CHANGE_LOCK: Kysely's migrator reads the catalog of every
 * schema, which fails if another process drops a schema at that moment (and two instances
 * starting together migrate one after the other).
 */
export async function withSchemaLock<T>(databaseUrl: string, change: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [SCHEMA_CHANGE_LOCK]);
    return await change(client);
  } finally {
    await client.end();
  }
}

async function migrate<DB>(db: Kysely<DB>, migrations: Record<string, Migration>, schema?: string): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  const { error } = await migrator.migrateToLatest();
  if (error) throw error;
}

/** Opens (and creates) the subgraph's database and brings its schema up to date, idempotently. */
export async function openDatabase<DB>({ name, config, migrations, telemetry }: DatabaseOptions): Promise<Database<DB>> {
  const stats = { queries: 0 };
  const engine: Database<DB>['engine'] = config.databaseUrl ? 'postgres' : 'pglite';
  // Kysely reports each query once it has finished, with its duration.
  const log = (event: LogEvent) => {
    if (event.level === 'query') stats.queries += 1;
    if (!telemetry) return;
    telemetry.metrics.dbQueries.observe({ engine }, event.queryDurationMillis / 1000);
    if (!trace.getActiveSpan()?.isRecording()) return;
    const operation = /^\s*(\w+)/.exec(event.query.sql)?.[1]?.toUpperCase() ?? 'QUERY';
    telemetry.tracer
      .startSpan(`db ${operation}`, {
        kind: SpanKind.CLIENT,
        startTime: performance.timeOrigin + performance.now() - event.queryDurationMillis,
        attributes: { 'db.system.name': 'postgresql', 'db.namespace': name, 'db.query.text': event.query.sql },
      })
      .end();
  };
  let db: Kysely<DB>;
  let bringUpToDate: () => Promise<void>;
  if (config.databaseUrl) {
    const { databaseUrl } = config;
    const schema = `${config.databaseSchemaPrefix}${name}`;
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 10, options: `-c search_path="${schema}"` });
    db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }), log });
    bringUpToDate = () =>
      withSchemaLock(databaseUrl, async (client) => {
        await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
        await migrate(db, migrations, schema);
      });
  } else {
    const pglite = await openPglite(config.dataDir, name);
    db = new Kysely<DB>({ dialect: new PGliteDialect({ pglite }), log });
    bringUpToDate = () => migrate(db, migrations);
  }
  try {
    await bringUpToDate();
  } catch (error) {
    await db.destroy();
    throw error;
  }
  stats.queries = 0;
  return { db, engine, stats, ping: async () => void (await sql`SELECT 1`.execute(db)), close: () => db.destroy() };
}
