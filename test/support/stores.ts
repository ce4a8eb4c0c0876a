/** What the store tests of every subgraph share: one database per engine, and the migration check. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from '@jest/globals';
import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import { openDatabase, type Database, type DatabaseOptions } from '@chat/shared/db';
import { pageWindow, toConnection, type CursorKey, type PageWindow } from '@chat/shared/pagination';
import { TEST_DATABASE_URL, type Engine } from './system';

export type { Engine };

/** Where one engine keeps a store test's database: in memory, or a schema of its own on the server. */
export function storageFor(name: string, engine: Engine): { config: DatabaseOptions['config']; schema: string } {
  const prefix = `st_${name}_${process.pid}_${randomBytes(4).toString('hex')}_`;
  const config =
    engine === 'pglite'
      ? { dataDir: 'memory://', databaseSchemaPrefix: '' }
      : { dataDir: 'memory://', databaseUrl: TEST_DATABASE_URL, databaseSchemaPrefix: prefix };
  return { config, schema: `${prefix}${name}` };
}

/** The tables in the connection's current schema. */
export async function tablesOf(db: Kysely<any>): Promise<string[]> {
  const { rows } = await sql<{ table_name: string }>`
    SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name`.execute(db);
  return rows.map((r) => r.table_name);
}

/** Registers the test that opening the same database again applies each migration once and changes no table. */
export function itMigratesIdempotently(options: {
  name: string;
  engine: Engine;
  config: DatabaseOptions['config'];
  migrations: Record<string, Migration>;
  /** The test file's open database (the server's schema is reopened through it). */
  current: () => Database<any>;
  tables: string[];
}): void {
  let dir: string | undefined;
  const open = (config: DatabaseOptions['config']) => openDatabase<any>({ name: options.name, config, migrations: options.migrations });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  it('migrates idempotently: opening the same database again changes nothing', async () => {
    let target = options.config;
    let before: string[];
    if (options.engine === 'pglite') {
      // memory:// is a fresh database each time; a folder is the same one twice.
      dir = mkdtempSync(join(tmpdir(), `${options.name}-store-`));
      target = { dataDir: dir, databaseSchemaPrefix: '' };
      const first = await open(target);
      before = await tablesOf(first.db);
      await first.close();
    } else {
      before = await tablesOf(options.current().db);
    }
    const again = await open(target);
    try {
      const tables = await tablesOf(again.db);
      expect(tables).toEqual(before);
      expect(tables).toEqual(expect.arrayContaining(options.tables));
      const applied = await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(again.db);
      expect(applied.rows.map((r) => r.name)).toEqual(Object.keys(options.migrations).sort());
    } finally {
      await again.close();
    }
  }, 90_000); // opening an on-disk PGlite is slow on a busy machine
}

/** Every page of a listing, walked with real cursors from the first page to the last (ids per page). */
export async function walkPages<Row extends { id: string }>(
  read: (window: PageWindow) => Promise<Row[]>,
  cursorOf: (row: Row) => CursorKey,
  first = 2,
): Promise<string[][]> {
  const pages: string[][] = [];
  let after: string | null = null;
  for (;;) {
    const window = pageWindow({ first, after }, 2);
    const connection = toConnection(await read(window), window, cursorOf);
    pages.push(connection.edges.map((e) => e.node.id));
    if (!connection.pageInfo.hasNextPage) return pages;
    after = connection.pageInfo.endCursor;
    if (pages.length > 50) throw new Error('pagination does not end');
  }
}
