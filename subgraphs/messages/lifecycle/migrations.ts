/** The messages subgraph's copy of each conversation's state (lifecycle/state.ts), and what retention reads. */
import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

export const lifecycleMigrations: Record<string, Migration> = {
  '200_conversation_state': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('conversation_owners').addColumn('deleted_at', 'timestamptz').addColumn('archived_at', 'timestamptz').execute();
      // Retention looks for deleted or archived conversations and deleted messages only: small partial indexes.
      await sql`CREATE INDEX conversation_owners_deleted ON conversation_owners (deleted_at) WHERE deleted_at IS NOT NULL`.execute(db);
      await sql`CREATE INDEX conversation_owners_archived ON conversation_owners (archived_at) WHERE archived_at IS NOT NULL`.execute(db);
      await sql`CREATE INDEX messages_deleted ON messages (deleted_at) WHERE deleted_at IS NOT NULL`.execute(db);
    },
  },
};
