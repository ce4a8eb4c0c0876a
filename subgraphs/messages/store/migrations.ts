/** The messages subgraph's schema, one migration per change (never edit an applied one). */
import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import { lifecycleMigrations } from '../lifecycle/migrations';

export const migrations: Record<string, Migration> = {
  '001_messages': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('conversation_owners')
        .addColumn('conversation_id', 'uuid', (c) => c.primaryKey())
        .addColumn('user_id', 'uuid', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('messages')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('seq', 'bigserial', (c) => c.notNull().unique())
        .addColumn('conversation_id', 'uuid', (c) => c.notNull().references('conversation_owners.conversation_id'))
        .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('USER', 'ASSISTANT', 'SYSTEM')`))
        .addColumn('content', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('PENDING', 'STREAMING', 'COMPLETED', 'FAILED', 'CANCELLED')`))
        .addColumn('author_id', 'uuid')
        .addColumn('client_message_id', 'text')
        .addColumn('model', 'text')
        .addColumn('provider', 'text')
        .addColumn('prompt_tokens', 'integer')
        .addColumn('completion_tokens', 'integer')
        .addColumn('total_tokens', 'integer')
        .addColumn('finish_reason', 'text')
        .addColumn('latency_ms', 'integer')
        .addColumn('error', 'text')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('completed_at', 'timestamptz')
        .execute();
      await sql`CREATE INDEX messages_by_conversation ON messages (conversation_id, seq)`.execute(db);
      // The same clientMessageId twice in one conversation is one message.
      await sql`CREATE UNIQUE INDEX messages_client_id ON messages (conversation_id, client_message_id) WHERE client_message_id IS NOT NULL`.execute(db);
    },
  },
  '002_replies': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('messages').addColumn('reply_to', 'uuid').execute();
      await db.schema.alterTable('messages').addColumn('replaced_by', 'uuid').execute();
      await db.schema
        .createTable('conversation_summaries')
        .addColumn('conversation_id', 'uuid', (c) => c.primaryKey())
        .addColumn('summary', 'text', (c) => c.notNull())
        .addColumn('covered_messages', 'integer', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .execute();
      // Lists, counts and prompts read only the messages still in place.
      await sql`CREATE INDEX messages_in_place ON messages (conversation_id, seq) WHERE replaced_by IS NULL`.execute(db);
    },
  },
  '003_moderation': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('messages').addColumn('moderation_flags', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`)).execute();
      await db.schema
        .createTable('moderation_policy')
        .addColumn('id', 'integer', (c) => c.primaryKey().check(sql`id = 1`))
        .addColumn('refuse', sql`text[]`, (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .execute();
    },
  },
  '004_credit_holds': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('messages').addColumn('hold_key', 'text').execute();
      await db.schema.alterTable('messages').addColumn('credits_held', 'integer').execute();
      await db.schema.alterTable('messages').addColumn('credits', 'integer').execute();
      // The outbox of settlements: written with the reply's end, drained until the users subgraph has taken each.
      await db.schema
        .createTable('credit_settlements')
        .addColumn('hold_key', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'uuid', (c) => c.notNull())
        .addColumn('reply_id', 'uuid', (c) => c.notNull())
        .addColumn('used', 'integer', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'timestamptz', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await sql`CREATE INDEX credit_settlements_due ON credit_settlements (next_attempt_at)`.execute(db);
    },
  },
  '005_tree': {
    async up(db: Kysely<any>) {
      await db.schema
        .alterTable('messages')
        .addColumn('parent_id', 'uuid')
        .addColumn('active', 'boolean', (c) => c.notNull().defaultTo(false))
        .addColumn('active_child_id', 'uuid')
        .addColumn('deleted_at', 'timestamptz')
        .addColumn('continued_from', 'integer')
        .execute();
      // Today's linear conversations become one path: each message in place answers the one before it
      // (a reply's reply_to, whenever sends did not interleave), and the next one is its active child.
      await sql`
        WITH path AS (
          SELECT id, lag(id) OVER w AS previous_id, lead(id) OVER w AS next_id
          FROM messages WHERE replaced_by IS NULL
          WINDOW w AS (PARTITION BY conversation_id ORDER BY seq)
        )
        UPDATE messages SET parent_id = path.previous_id, active = true, active_child_id = path.next_id
        FROM path WHERE messages.id = path.id`.execute(db);
      // A replaced reply becomes an inactive alternative of the reply that took its place.
      await sql`UPDATE messages SET parent_id = reply_to WHERE replaced_by IS NOT NULL`.execute(db);
      // The tree replaces it: nothing reads it any more.
      await sql`DROP INDEX messages_in_place`.execute(db);
      await db.schema.alterTable('messages').dropColumn('replaced_by').execute();
      // The active path, oldest first, is one index range (lists, counts, the last message).
      await sql`CREATE INDEX messages_active_path ON messages (conversation_id, seq) WHERE active`.execute(db);
      // Alternatives (a parent's children, oldest first) and subtrees.
      await sql`CREATE INDEX messages_by_parent ON messages (parent_id, seq)`.execute(db);
      // The per-conversation check that no reply is being generated.
      await sql`CREATE INDEX messages_open ON messages (conversation_id) WHERE status IN ('PENDING', 'STREAMING')`.execute(db);
      // A summary is reused only on the branch it summarises.
      await db.schema.alterTable('conversation_summaries').addColumn('covers_through', 'uuid').execute();
    },
  },
  '100_search': {
    async up(db: Kysely<any>) {
      // Search and usage filter by owner and by character without asking the conversations subgraph; each
      // conversation's messages are indexed in its language (a text search configuration; 'simple' folds case only).
      await db.schema.alterTable('conversation_owners').addColumn('character_id', 'uuid').execute();
      await sql`ALTER TABLE conversation_owners ADD COLUMN search_config regconfig NOT NULL DEFAULT 'simple'`.execute(db);
      await sql`ALTER TABLE messages ADD COLUMN search_config regconfig NOT NULL DEFAULT 'simple'`.execute(db);
      // A new message takes its conversation's language, whichever write stores it (generated columns follow BEFORE triggers).
      await sql`
        CREATE FUNCTION messages_search_config() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          NEW.search_config := coalesce((SELECT o.search_config FROM conversation_owners o WHERE o.conversation_id = NEW.conversation_id), NEW.search_config);
          RETURN NEW;
        END $$`.execute(db);
      await sql`CREATE TRIGGER messages_search_config BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION messages_search_config()`.execute(db);
      // Kept by the database from the text (a streaming reply's too).
      await sql`ALTER TABLE messages ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (to_tsvector(search_config, content)) STORED`.execute(db);
      await sql`CREATE INDEX messages_search ON messages USING gin (search_vector)`.execute(db);
      await sql`CREATE INDEX conversation_owners_by_user ON conversation_owners (user_id)`.execute(db);
      // Usage reports: replies by the time they ended.
      await sql`CREATE INDEX messages_replies_by_time ON messages (completed_at) WHERE role = 'ASSISTANT' AND completed_at IS NOT NULL`.execute(db);
      await db.schema
        .createTable('message_templates')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('user_id', 'uuid', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('content', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await sql`CREATE INDEX message_templates_by_user ON message_templates (user_id, created_at)`.execute(db);
      // Chat sessions as they end, for Conversation.stats.
      await db.schema
        .createTable('conversation_sessions')
        .addColumn('conversation_id', 'uuid', (c) => c.notNull())
        .addColumn('started_at', 'timestamptz', (c) => c.notNull())
        .addColumn('ended_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await sql`CREATE INDEX conversation_sessions_by_conversation ON conversation_sessions (conversation_id)`.execute(db);
    },
  },
  '100_usage': {
    async up(db: Kysely<any>) {
      // Time to first token of a generated reply, for usage reports.
      await db.schema.alterTable('messages').addColumn('first_token_ms', 'integer').execute();
    },
  },
  '100_import': {
    async up(db: Kysely<any>) {
      // An import's messages are stored before the conversations subgraph records the conversation: hidden until then.
      await db.schema.alterTable('conversation_owners').addColumn('importing', 'boolean', (c) => c.notNull().defaultTo(false)).execute();
    },
  },
  ...lifecycleMigrations,
};
