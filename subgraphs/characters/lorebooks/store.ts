/**
 * Lorebooks: a user's own, and those embedded in characters' cards (one per character at most).
 * Entries live in the book's row (JSONB): they are always read and written whole, with the book.
 * Deleting is soft: conversations that use a book keep resolving it (empty) for its owner.
 */
import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { CursorKey, PageWindow } from '@chat/shared/pagination';
import { isUuid } from '@chat/shared/validate';
import type { CharactersTables, LorebookRow } from '../tables';
import type { LorebookFields } from './model';

export const lorebookMigrations: Record<string, Migration> = {
  '005_lorebooks': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('lorebooks')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('owner_id', 'uuid', (c) => c.notNull())
        .addColumn('character_id', 'uuid', (c) => c.references('characters.id'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('scan_depth', 'integer')
        .addColumn('token_budget', 'integer')
        .addColumn('recursive_scanning', 'boolean')
        .addColumn('extensions', 'jsonb', (c) => c.notNull())
        .addColumn('extra', 'jsonb', (c) => c.notNull())
        .addColumn('entries', 'jsonb', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addColumn('deleted_at', 'timestamptz')
        .execute();
      // A user's own books, newest first; a character's embedded book, one at a time.
      await sql`CREATE INDEX lorebooks_owned ON lorebooks (owner_id, created_at DESC, id DESC) WHERE deleted_at IS NULL AND character_id IS NULL`.execute(db);
      await sql`CREATE UNIQUE INDEX lorebooks_of_character ON lorebooks (character_id) WHERE deleted_at IS NULL AND character_id IS NOT NULL`.execute(db);
    },
  },
};

/** JSON columns go to the driver as text. */
function columns(fields: LorebookFields) {
  return {
    ...fields,
    extensions: JSON.stringify(fields.extensions) as never,
    extra: JSON.stringify(fields.extra) as never,
    entries: JSON.stringify(fields.entries) as never,
  };
}

/** Stores a new book inside `tx` (a character's import stores its embedded book in its own transaction). */
export function insertLorebook(tx: Kysely<CharactersTables>, ownerId: string, fields: LorebookFields, characterId: string | null = null): Promise<LorebookRow> {
  const now = new Date();
  return tx
    .insertInto('lorebooks')
    .values({ id: randomUUID(), owner_id: ownerId, character_id: characterId, ...columns(fields), created_at: now, updated_at: now, deleted_at: null })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Reads and writes lorebooks. */
export class LorebookStore {
  constructor(private readonly db: Kysely<CharactersTables>) {}

  /** Books by id in one query, deleted ones included. */
  byIds(ids: readonly string[]): Promise<LorebookRow[]> {
    const valid = ids.filter(isUuid);
    if (valid.length === 0) return Promise.resolve([]);
    return this.db.selectFrom('lorebooks').selectAll().where('id', 'in', valid).execute();
  }

  /** The live embedded books of these characters, in one query. */
  ofCharacters(characterIds: readonly string[]): Promise<LorebookRow[]> {
    const valid = characterIds.filter(isUuid);
    if (valid.length === 0) return Promise.resolve([]);
    return this.db.selectFrom('lorebooks').selectAll().where('character_id', 'in', valid).where('deleted_at', 'is', null).execute();
  }

  /** One page of a user's own live books (not embedded ones), newest first, limit + 1 rows. */
  listOwned(ownerId: string, window: PageWindow): Promise<LorebookRow[]> {
    let query = this.db.selectFrom('lorebooks').selectAll().where('owner_id', '=', ownerId).where('character_id', 'is', null).where('deleted_at', 'is', null);
    if (window.cursor) {
      const [createdAt, id] = window.cursor as [string, string];
      query = query.where(sql<boolean>`(created_at, id) < (${new Date(createdAt)}, ${id}::uuid)`);
    }
    return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(window.limit + 1).execute();
  }

  create(ownerId: string, fields: LorebookFields): Promise<LorebookRow> {
    return insertLorebook(this.db, ownerId, fields);
  }

  /** Replaces a live book's content; undefined when it is gone. */
  update(id: string, fields: LorebookFields): Promise<LorebookRow | undefined> {
    return this.db
      .updateTable('lorebooks')
      .set({ ...columns(fields), updated_at: new Date() })
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .returningAll()
      .executeTakeFirst();
  }

  async softDelete(id: string): Promise<boolean> {
    const result = await this.db.updateTable('lorebooks').set({ deleted_at: new Date() }).where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
}

/** The cursor key of a book in lists. */
export const lorebookCursor = (row: LorebookRow): CursorKey => [row.created_at.toISOString(), row.id];
