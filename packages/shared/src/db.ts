import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PGliteDialect, PostgresDialect } from 'kysely';
import { Migrator, type Migration } from 'kysely/migration';
import pg from 'pg';
import type { Config } from './config';

/** A subgraph's own database: embedded PGlite or one schema on a PostgreSQL server, migrated. */
export interface Database<DB> {
  db: Kysely<DB>;
  /** Which engine runs the SQL. */
  engine: 'pglite' | 'postgres';
  /** Queries run since start; tests read it to prove batching. */
  stats: { queries: number };
  close(): Promise<void>;
}

/** What openDatabase needs: the subgraph's name (its folder or schema) and its migrations, in order. */
export interface DatabaseOptions {
  name: string;
  config: Pick<Config, 'dataDir' | 'databaseUrl' | 'databaseSchemaPrefix'>;
  migrations: Record<string, Migration>;
}

/**
 * A freshly initialised in-memory cluster, dumped once per process: restoring it takes a
 * fraction of the time initdb does (tests start many in-memory databases).
 */
let pristineCluster: Promise<Blob> | undefined;
async function inMemoryPglite(): Promise<PGlite> {
  pristineCluster ??= PGlite.create().then(async (fresh) => {
    const dump = await fresh.dumpDataDir('none');
    await fresh.close();
    return dump;
  });
  return PGlite.create({ loadDataDir: await pristineCluster });
}

// pg returns int8 and numeric as strings; our counters fit in a JS number.
const PG_INT8_OID = 20;
pg.types.setTypeParser(PG_INT8_OID, (v) => Number(v));

/** Opens (and creates) the subgraph's database and brings its schema up to date, idempotently. */
export async function openDatabase<DB>({ name, config, migrations }: DatabaseOptions): Promise<Database<DB>> {
  const stats = { queries: 0 };
  const log = (event: { level: string }) => {
    if (event.level === 'query') stats.queries += 1;
  };
  let db: Kysely<DB>;
  let engine: Database<DB>['engine'];
  let schema: string | undefined;
  if (config.databaseUrl) {
    engine = 'postgres';
    schema = `${config.databaseSchemaPrefix}${name}`;
    const setup = new pg.Client({ connectionString: config.databaseUrl });
    await setup.connect();
    try {
      await setup.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    } finally {
      await setup.end();
    }
    const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 10, options: `-c search_path="${schema}"` });
    db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }), log });
  } else {
    engine = 'pglite';
    let pglite: PGlite;
    if (config.dataDir === 'memory://') pglite = await inMemoryPglite();
    else {
      const dir = join(config.dataDir, name);
      mkdirSync(dir, { recursive: true });
      pglite = new PGlite(dir);
    }
    db = new Kysely<DB>({ dialect: new PGliteDialect({ pglite }), log });
  }
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  const { error } = await migrator.migrateToLatest();
  if (error) {
    await db.destroy();
    throw error;
  }
  stats.queries = 0;
  return { db, engine, stats, close: () => db.destroy() };
}

/** Drops a subgraph's schema from a PostgreSQL server (test clean-up). */
export async function dropSchema(databaseUrl: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
