/**
 * Finds what is left of a user after their erasure: every row of every table of every schema of a
 * system (information_schema), each read whole as text, and every Redis key of the system, by name
 * and by value, searched for the user's id and email.
 */
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PGliteDialect, sql } from 'kysely';
import { Redis } from 'ioredis';
import { SUBGRAPH_NAMES, type Config } from '@chat/shared/config';

/** One place something of the user was found. */
export interface Leftover {
  where: string;
  text: string;
}

/** Every row of every table outside the system catalogs of `db` mentioning any of `needles` (schemas limited to `schemaPrefix`, when given). */
export async function rowsMentioning(db: Kysely<any>, needles: readonly string[], schemaPrefix?: string): Promise<{ tables: number; found: Leftover[] }> {
  const { rows: tables } = await sql<{ table_schema: string; table_name: string }>`
    SELECT table_schema, table_name FROM information_schema.tables
    WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')
    ${schemaPrefix ? sql`AND starts_with(table_schema, ${schemaPrefix})` : sql``}
    ORDER BY 1, 2`.execute(db);
  const found: Leftover[] = [];
  for (const { table_schema, table_name } of tables) {
    const { rows } = await sql<{ row: string }>`SELECT t::text AS row FROM ${sql.table(`${table_schema}.${table_name}`)} t`.execute(db);
    for (const { row } of rows) {
      if (needles.some((needle) => row.toLowerCase().includes(needle.toLowerCase()))) found.push({ where: `${table_schema}.${table_name}`, text: row.slice(0, 300) });
    }
  }
  return { tables: tables.length, found };
}

/** The same search in each subgraph's embedded database kept under `dataDir` (the system must have stopped). */
export async function pgliteRowsMentioning(dataDir: string, needles: readonly string[]): Promise<{ tables: number; found: Leftover[] }> {
  let tables = 0;
  const found: Leftover[] = [];
  for (const name of SUBGRAPH_NAMES) {
    // Opened as it is, without migrating: what the subgraph left.
    const db = new Kysely<any>({ dialect: new PGliteDialect({ pglite: await PGlite.create({ dataDir: join(dataDir, name) }) }) });
    try {
      const result = await rowsMentioning(db, needles);
      tables += result.tables;
      found.push(...result.found.map((f) => ({ ...f, where: `${name}:${f.where}` })));
    } finally {
      await db.destroy();
    }
  }
  return { tables, found };
}

/** Every key under the system's Redis prefix whose name or value mentions any of `needles`. */
export async function redisMentioning(config: Pick<Config, 'redisUrl' | 'redisPrefix'>, needles: readonly string[]): Promise<{ keys: number; found: Leftover[] }> {
  const redis = new Redis(config.redisUrl!);
  const mentions = (text: string) => needles.some((needle) => text.toLowerCase().includes(needle.toLowerCase()));
  try {
    const keys = await redis.keys(`${config.redisPrefix}*`);
    const found: Leftover[] = [];
    for (const key of keys) {
      const type = await redis.type(key);
      const value =
        type === 'string'
          ? await redis.get(key)
          : type === 'hash'
            ? JSON.stringify(await redis.hgetall(key))
            : type === 'zset'
              ? JSON.stringify(await redis.zrange(key, '0', '-1'))
              : type === 'set'
                ? JSON.stringify(await redis.smembers(key))
                : type === 'list'
                  ? JSON.stringify(await redis.lrange(key, '0', '-1'))
                  : type === 'stream'
                    ? JSON.stringify(await redis.xrange(key, '-', '+'))
                    : '';
      if (mentions(key) || mentions(value ?? '')) found.push({ where: key, text: (value ?? '').slice(0, 300) });
    }
    return { keys: keys.length, found };
  } finally {
    await redis.quit();
  }
}
