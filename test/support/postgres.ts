/** Clean-up of what tests leave on the PostgreSQL server. */
import { withSchemaLock } from '@chat/shared/db';

/** Drops a subgraph's schema from a PostgreSQL server, never during another's migration (both hold the schema lock). */
export async function dropSchema(databaseUrl: string, schema: string): Promise<void> {
  await withSchemaLock(databaseUrl, (client) => client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
}
