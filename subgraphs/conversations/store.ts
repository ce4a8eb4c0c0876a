import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { Database } from '@chat/shared/db';
import type { CursorKey, PageWindow } from '@chat/shared/pagination';
import { isUuid } from '@chat/shared/validate';

/** The model parameters a conversation is generated with. */
export interface ConversationSettings {
  /** The provider's id; absent in settings stored before providers were listed (the default one then). */
  provider?: string;
  model: string;
  temperature: number;
  maxTokens: number;
  contextWindowTokens: number;
  /** The language messages are searched in; absent: DEFAULT_SEARCH_LANGUAGE (search-language.ts). */
  language?: string;
}

/** A conversation as stored. */
export interface ConversationRow {
  id: string;
  user_id: string;
  character_id: string;
  title: string;
  status: 'ACTIVE' | 'ARCHIVED';
  tags: string[];
  settings: ConversationSettings;
  created_at: Date;
  updated_at: Date;
  last_activity_at: Date;
  stats_message_count: number;
  stats_total_tokens: number;
  session_count: number;
  total_session_seconds: number;
  last_session_ended_at: Date | null;
  /** The user's persona for this conversation; null: their default. */
  persona_id: string | null;
  /** The user's lorebooks this conversation uses, in order. */
  lorebook_ids: string[];
  /** When its owner deleted it (soft: gone from every list and query; purged after RETENTION_DELETED_DAYS); null while it lives. */
  deleted_at: Date | null;
  /** When it was last archived (its messages are purged RETENTION_ARCHIVED_DAYS later); null while active. */
  archived_at: Date | null;
}

/** References to entities other subgraphs own. */
export interface UserRef {
  id: string;
}
export interface CharacterRef {
  id: string;
}
export interface PersonaRef {
  id: string;
}
export interface LorebookRef {
  id: string;
}

/** The conversations subgraph's tables. */
export interface ConversationsTables {
  conversations: ConversationRow;
}

export const migrations: Record<string, Migration> = {
  '001_conversations': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('conversations')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('user_id', 'uuid', (c) => c.notNull())
        .addColumn('character_id', 'uuid', (c) => c.notNull())
        .addColumn('title', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('ACTIVE', 'ARCHIVED')`))
        .addColumn('tags', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
        .addColumn('settings', 'jsonb', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addColumn('last_activity_at', 'timestamptz', (c) => c.notNull())
        .execute();
      // A user's list, most recent activity first, optionally by status.
      await sql`CREATE INDEX conversations_by_user ON conversations (user_id, last_activity_at DESC, id DESC)`.execute(db);
      await sql`CREATE INDEX conversations_by_user_status ON conversations (user_id, status, last_activity_at DESC, id DESC)`.execute(db);
    },
  },
  '002_statistics': {
    async up(db: Kysely<any>) {
      await db.schema
        .alterTable('conversations')
        .addColumn('stats_message_count', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('stats_total_tokens', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('session_count', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('total_session_seconds', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('last_session_ended_at', 'timestamptz')
        .execute();
    },
  },
  '003_persona_lorebooks': {
    async up(db: Kysely<any>) {
      await db.schema
        .alterTable('conversations')
        .addColumn('persona_id', 'uuid')
        .addColumn('lorebook_ids', sql`uuid[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
        .execute();
    },
  },
  // Soft deletion and the archive date retention counts from (existing archives count from their last change).
  '200_deleted_archived_at': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('conversations').addColumn('deleted_at', 'timestamptz').addColumn('archived_at', 'timestamptz').execute();
      await sql`UPDATE conversations SET archived_at = updated_at WHERE status = 'ARCHIVED'`.execute(db);
      // Retention looks for deleted conversations only: the index stays as small as they are.
      await db.schema.createIndex('conversations_deleted_at').on('conversations').column('deleted_at').where('deleted_at', 'is not', null).execute();
    },
  },
};

/** The columns a fork has of its own (its statistics start from their defaults); it copies every other from its source. */
const FORK_OWN_COLUMNS: ReadonlySet<string> = new Set([
  'id',
  'title',
  'status',
  'created_at',
  'updated_at',
  'last_activity_at',
  'stats_message_count',
  'stats_total_tokens',
  'session_count',
  'total_session_seconds',
  'last_session_ended_at',
  'deleted_at',
  'archived_at',
]);

/** What a chat session that ended tells the conversation. */
export interface SessionRecord {
  startedAt: Date;
  endedAt: Date;
  messageCount: number;
  totalTokens: number;
}

/** What may change on a conversation. */
export type ConversationChanges = Partial<Pick<ConversationRow, 'title' | 'status' | 'tags' | 'settings' | 'persona_id' | 'lorebook_ids' | 'archived_at'>>;

/** Reads and writes conversations. */
export class ConversationsStore {
  constructor(private readonly database: Database<ConversationsTables>) {}

  private get db() {
    return this.database.db;
  }

  /** Runs `work` in one transaction (erasure.ts). */
  transaction<T>(work: (tx: Kysely<ConversationsTables>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(work);
  }

  byIds(ids: readonly string[]): Promise<ConversationRow[]> {
    const valid = ids.filter(isUuid);
    if (valid.length === 0) return Promise.resolve([]);
    return this.db.selectFrom('conversations').selectAll().where('id', 'in', valid).where('deleted_at', 'is', null).execute();
  }

  /** A deleted conversation (restoreConversation finds it here, and nowhere else does). */
  deletedById(id: string): Promise<ConversationRow | undefined> {
    if (!isUuid(id)) return Promise.resolve(undefined);
    return this.db.selectFrom('conversations').selectAll().where('id', '=', id).where('deleted_at', 'is not', null).executeTakeFirst();
  }

  /** Marks the conversation deleted at `at`, or live again with null; undefined when it is not in the state to change from. */
  setDeleted(id: string, at: Date | null): Promise<ConversationRow | undefined> {
    return this.db
      .updateTable('conversations')
      .set({ deleted_at: at, updated_at: new Date() })
      .where('id', '=', id)
      .where('deleted_at', at ? 'is' : 'is not', null)
      .returningAll()
      .executeTakeFirst();
  }

  /** One page of a user's conversations, most recent activity first, limit + 1 rows. */
  listByUser(userId: string, window: PageWindow, status?: ConversationRow['status']): Promise<ConversationRow[]> {
    let query = this.db.selectFrom('conversations').selectAll().where('user_id', '=', userId).where('deleted_at', 'is', null);
    if (status) query = query.where('status', '=', status);
    if (window.cursor) {
      const [at, id] = window.cursor as [string, string];
      query = query.where(sql<boolean>`(last_activity_at, id) < (${new Date(at)}, ${id}::uuid)`);
    }
    return query.orderBy('last_activity_at', 'desc').orderBy('id', 'desc').limit(window.limit + 1).execute();
  }

  /** A new conversation; without a persona (the user's default) and lorebooks unless given. */
  create(input: Pick<ConversationRow, 'user_id' | 'character_id' | 'title' | 'tags' | 'settings'> & Partial<Pick<ConversationRow, 'id' | 'persona_id' | 'lorebook_ids'>>): Promise<ConversationRow> {
    const now = new Date();
    return this.db
      .insertInto('conversations')
      .values({ id: randomUUID(), ...input, settings: JSON.stringify(input.settings) as never, status: 'ACTIVE', created_at: now, updated_at: now, last_activity_at: now } as never)
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  /**
   * A fork of `source` under `forkId` with `title`: the source's row with a new id, title, status
   * (active), times and empty statistics; every other column (character, settings, tags, persona,
   * lorebooks) copied. A repeat with the same id stores nothing; either way the row is returned.
   */
  async fork(source: ConversationRow, forkId: string, title: string): Promise<ConversationRow> {
    const copied = Object.fromEntries(Object.entries(source).filter(([column]) => !FORK_OWN_COLUMNS.has(column)));
    const now = new Date();
    await this.db
      .insertInto('conversations')
      .values({ ...copied, settings: JSON.stringify(source.settings), id: forkId, title, status: 'ACTIVE', created_at: now, updated_at: now, last_activity_at: now, deleted_at: null, archived_at: null } as never)
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
    return this.db.selectFrom('conversations').selectAll().where('id', '=', forkId).executeTakeFirstOrThrow();
  }

  update(id: string, changes: ConversationChanges): Promise<ConversationRow | undefined> {
    const { settings, ...rest } = changes;
    return this.db
      .updateTable('conversations')
      .set({ ...rest, ...(settings ? { settings: JSON.stringify(settings) as never } : {}), updated_at: new Date() })
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .returningAll()
      .executeTakeFirst();
  }

  /** Marks activity now, so the conversation moves to the top of its owner's list. */
  async touch(id: string): Promise<void> {
    await this.db.updateTable('conversations').set({ last_activity_at: new Date() }).where('id', '=', id).execute();
  }

  /** Folds an ended session into the conversation's statistics. */
  async recordSession(id: string, session: SessionRecord): Promise<void> {
    const seconds = Math.max(0, Math.round((session.endedAt.getTime() - session.startedAt.getTime()) / 1000));
    await this.db
      .updateTable('conversations')
      .set((eb) => ({
        stats_message_count: session.messageCount,
        stats_total_tokens: session.totalTokens,
        session_count: eb('session_count', '+', 1),
        total_session_seconds: eb('total_session_seconds', '+', seconds),
        last_session_ended_at: session.endedAt,
      }))
      .where('id', '=', id)
      .execute();
  }

  async remove(id: string): Promise<void> {
    await this.db.deleteFrom('conversations').where('id', '=', id).execute();
  }
}

/** The cursor key of a conversation in lists. */
export const conversationCursor = (row: ConversationRow): CursorKey => [row.last_activity_at.toISOString(), row.id];
