import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { Database } from '@chat/shared/db';
import type { CursorKey, PageWindow } from '@chat/shared/pagination';
import { isUuid } from '@chat/shared/validate';
import { ImageStore, imageMigrations, writeImage, type ImageChange } from './images/store';
import type { StoredImage } from './images/process';
import type { LorebookFields } from './lorebooks/model';
import { insertLorebook, LorebookStore, lorebookMigrations } from './lorebooks/store';
import type { CharacterRow, CharactersTables } from './tables';

export type { AudienceRow, CharacterRow, CharactersTables, ImageRow, LorebookRow } from './tables';
export type { LorebookEntryRecord } from './lorebooks/model';

/** A reference to a user owned by the users subgraph. */
export interface UserRef {
  id: string;
}

/** The writable character fields, in storage names. */
export type CharacterFields = Pick<
  CharacterRow,
  | 'name'
  | 'description'
  | 'personality'
  | 'scenario'
  | 'greeting'
  | 'example_dialogue'
  | 'system_prompt'
  | 'tags'
  | 'visibility'
  | 'alternate_greetings'
  | 'post_history_instructions'
  | 'creator_notes'
  | 'creator'
  | 'character_version'
  | 'card_extensions'
  | 'card_extra'
>;

/** What a new character comes with besides its fields: an image, and a card's embedded lorebook. */
export interface CharacterAttachments {
  image?: StoredImage;
  lorebook?: LorebookFields | null;
}

export const migrations: Record<string, Migration> = {
  '001_characters': {
    async up(db: Kysely<any>) {
      // array_to_string is only STABLE; a generated column needs an IMMUTABLE expression.
      await sql`CREATE FUNCTION tags_text(tags text[]) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT array_to_string(tags, ' ') $$`.execute(db);
      await db.schema
        .createTable('characters')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('owner_id', 'uuid', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('personality', 'text', (c) => c.notNull())
        .addColumn('scenario', 'text', (c) => c.notNull())
        .addColumn('greeting', 'text', (c) => c.notNull())
        .addColumn('example_dialogue', 'text', (c) => c.notNull())
        .addColumn('system_prompt', 'text', (c) => c.notNull())
        .addColumn('tags', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
        .addColumn('visibility', 'text', (c) => c.notNull().check(sql`visibility in ('PUBLIC', 'PRIVATE')`))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addColumn('deleted_at', 'timestamptz')
        .addColumn('search', sql`tsvector`, (c) =>
          c.generatedAlwaysAs(sql`to_tsvector('simple'::regconfig, name || ' ' || description || ' ' || tags_text(tags))`).stored(),
        )
        .execute();
      // Lists read live characters only, newest first: partial indexes skip soft-deleted rows.
      await sql`CREATE INDEX characters_listing ON characters (created_at DESC, id DESC) WHERE deleted_at IS NULL`.execute(db);
      await sql`CREATE INDEX characters_owner ON characters (owner_id) WHERE deleted_at IS NULL`.execute(db);
      await sql`CREATE INDEX characters_search ON characters USING GIN (search) WHERE deleted_at IS NULL`.execute(db);
      await sql`CREATE INDEX characters_tags ON characters USING GIN (tags) WHERE deleted_at IS NULL`.execute(db);
    },
  },
  '002_audience': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('character_audience')
        .addColumn('character_id', 'uuid', (c) => c.notNull().references('characters.id'))
        .addColumn('user_id', 'uuid', (c) => c.notNull())
        .addColumn('since', 'timestamptz', (c) => c.notNull())
        // Looked up by (user, characters) only: the user goes first.
        .addPrimaryKeyConstraint('character_audience_pkey', ['user_id', 'character_id'])
        .execute();
    },
  },
  '003_card_fields': {
    async up(db: Kysely<any>) {
      await db.schema
        .alterTable('characters')
        .addColumn('alternate_greetings', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
        .addColumn('post_history_instructions', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('creator_notes', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('creator', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('character_version', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('card_extensions', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
        .addColumn('card_extra', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
        .addColumn('image_etag', 'text')
        .execute();
      // Search matches creator and creator notes too: the generated column (and its index) is made anew.
      await db.schema.alterTable('characters').dropColumn('search').execute();
      await db.schema
        .alterTable('characters')
        .addColumn('search', sql`tsvector`, (c) =>
          c.generatedAlwaysAs(sql`to_tsvector('simple'::regconfig, name || ' ' || description || ' ' || tags_text(tags) || ' ' || creator || ' ' || creator_notes)`).stored(),
        )
        .execute();
      await sql`CREATE INDEX characters_search ON characters USING GIN (search) WHERE deleted_at IS NULL`.execute(db);
    },
  },
  ...imageMigrations,
  ...lorebookMigrations,
};

/** JSON columns go to the driver as text (typed as they read back). */
function columns<T extends Partial<CharacterFields>>(fields: T): T {
  const out: Partial<CharacterFields> = { ...(fields as Partial<CharacterFields>) };
  if (fields.card_extensions !== undefined) Object.assign(out, { card_extensions: JSON.stringify(fields.card_extensions) });
  if (fields.card_extra !== undefined) Object.assign(out, { card_extra: JSON.stringify(fields.card_extra) });
  return out as T;
}

/** Whose characters a list may show: public ones and the viewer's own (all, for admins). */
export interface ListScope {
  viewerId: string | null;
  admin: boolean;
}

/** Reads and writes characters. */
export class CharactersStore {
  /** Character images (bytes, for serving and export). */
  readonly images: ImageStore;
  /** Lorebooks, users' own and those embedded in characters. */
  readonly lorebooks: LorebookStore;

  constructor(private readonly database: Database<CharactersTables>) {
    this.images = new ImageStore(database.db);
    this.lorebooks = new LorebookStore(database.db);
  }

  private get db() {
    return this.database.db;
  }

  /** Runs `work` in one transaction (erasure.ts: a user's rows go all at once or not at all). */
  transaction<T>(work: (tx: Kysely<CharactersTables>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(work);
  }

  /** Characters by id in one query, soft-deleted ones included (old conversations still show them). */
  byIds(ids: readonly string[]): Promise<CharacterRow[]> {
    const valid = ids.filter(isUuid);
    if (valid.length === 0) return Promise.resolve([]);
    return this.db.selectFrom('characters').selectAll().where('id', 'in', valid).execute();
  }

  /** One page of live characters the scope may see, newest first, limit + 1 rows. */
  list(scope: ListScope, window: PageWindow, filter: { search?: string; tag?: string }): Promise<CharacterRow[]> {
    let query = this.db.selectFrom('characters').selectAll().where('deleted_at', 'is', null);
    if (!scope.admin) {
      query = query.where((eb) =>
        scope.viewerId ? eb.or([eb('visibility', '=', 'PUBLIC'), eb('owner_id', '=', scope.viewerId)]) : eb('visibility', '=', 'PUBLIC'),
      );
    }
    if (filter.tag) query = query.where(sql<boolean>`tags @> ARRAY[${filter.tag}]::text[]`);
    if (filter.search) {
      const like = `%${filter.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      query = query.where(sql<boolean>`(search @@ websearch_to_tsquery('simple', ${filter.search}) OR name ILIKE ${like} OR creator ILIKE ${like})`);
    }
    if (window.cursor) {
      const [createdAt, id] = window.cursor as [string, string];
      query = query.where(sql<boolean>`(created_at, id) < (${new Date(createdAt)}, ${id}::uuid)`);
    }
    return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(window.limit + 1).execute();
  }

  /** Remembers that `userId` talks with the character (once; later calls change nothing). */
  async addToAudience(characterId: string, userId: string): Promise<void> {
    await this.db
      .insertInto('character_audience')
      .values({ character_id: characterId, user_id: userId, since: new Date() })
      .onConflict((oc) => oc.columns(['user_id', 'character_id']).doNothing())
      .execute();
  }

  /** Of `characterIds`, those `userId` talks with, in one query. */
  async audienceOf(userId: string, characterIds: readonly string[]): Promise<string[]> {
    const valid = characterIds.filter(isUuid);
    if (valid.length === 0 || !isUuid(userId)) return [];
    const rows = await this.db.selectFrom('character_audience').select('character_id').where('user_id', '=', userId).where('character_id', 'in', valid).execute();
    return rows.map((row) => row.character_id);
  }

  /** A new character with its image and embedded lorebook, all in one transaction: all of it is stored, or none. */
  create(ownerId: string, fields: CharacterFields, attachments: CharacterAttachments = {}): Promise<CharacterRow> {
    const now = new Date();
    return this.db.transaction().execute(async (tx) => {
      const id = randomUUID();
      await tx
        .insertInto('characters')
        .values({ id, owner_id: ownerId, ...columns(fields), image_etag: null, created_at: now, updated_at: now })
        .execute();
      await writeImage(tx, id, attachments.image);
      if (attachments.lorebook) await insertLorebook(tx, ownerId, attachments.lorebook, id);
      return tx.selectFrom('characters').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    });
  }

  /** Changes a live character's fields and (unless `image` is undefined) its image, in one transaction; undefined when it is gone. */
  update(id: string, fields: Partial<CharacterFields>, image?: ImageChange): Promise<CharacterRow | undefined> {
    return this.db.transaction().execute(async (tx) => {
      const updated = await tx
        .updateTable('characters')
        .set({ ...columns(fields), updated_at: new Date() })
        .where('id', '=', id)
        .where('deleted_at', 'is', null)
        .returning('id')
        .executeTakeFirst();
      if (!updated) return undefined;
      await writeImage(tx, id, image);
      return tx.selectFrom('characters').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    });
  }

  async softDelete(id: string): Promise<boolean> {
    const result = await this.db.updateTable('characters').set({ deleted_at: new Date() }).where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
}

/** The cursor key of a character in lists. */
export const characterCursor = (row: CharacterRow): CursorKey => [row.created_at.toISOString(), row.id];
