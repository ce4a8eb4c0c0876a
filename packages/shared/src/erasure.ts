/**
 * Erasing a user's data (deleteAccount): what every subgraph's part of the saga shares. Each subgraph
 * lists, in its own erasure.ts, the rows of its tables that are the user's, in the order they go;
 * a new table is one more line there. The users subgraph drives the saga (subgraphs/users/account/saga-worker.ts).
 */
import { sql, type Kysely } from 'kysely';

/**
 * The owner of what outlives its owner's erasure (a public character others talk with): no account
 * has this id, and the users subgraph resolves it to a placeholder, so a non-null `owner` resolves.
 */
export const DELETED_USER_ID = '00000000-0000-0000-0000-000000000000';

/** The placeholder's display name. */
export const DELETED_USER_NAME = 'Deleted user';

/**
 * The rows of one table that are the user's: those whose `column` is the user's id, or, with `via`,
 * whose `column` is among the `via.key`s of the `via.table` rows whose `via.column` is the user's id
 * (a conversation's messages, through the conversation's owner).
 */
export interface TableErasure {
  table: string;
  column: string;
  via?: { table: string; column: string; key: string };
}

/**
 * Deletes the user's rows from each table in order (children before the rows they reference), in
 * `db` (a transaction: all or nothing). Running it again deletes nothing more: a saga step may
 * repeat. Returns how many rows went, by table.
 */
export async function eraseRows(db: Kysely<any>, userId: string, erasures: readonly TableErasure[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const { table, column, via } of erasures) {
    const match = via
      ? sql`${sql.ref(column)} IN (SELECT ${sql.ref(via.key)} FROM ${sql.table(via.table)} WHERE ${sql.ref(via.column)} = ${userId})`
      : sql`${sql.ref(column)} = ${userId}`;
    const result = await sql`DELETE FROM ${sql.table(table)} WHERE ${match}`.execute(db);
    counts[table] = (counts[table] ?? 0) + Number(result.numAffectedRows ?? 0);
  }
  return counts;
}
