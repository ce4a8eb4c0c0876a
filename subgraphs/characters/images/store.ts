/**
 * Character images: one per character, its bytes in a table of their own so that reading
 * characters never reads them. The character row carries the image's ETag (`image_etag`), written in
 * the same transaction, so an avatar URL needs no query.
 */
import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import { isUuid } from '@chat/shared/validate';
import type { CharacterRow, CharactersTables, ImageRow } from '../tables';
import type { StoredImage } from './process';

export const imageMigrations: Record<string, Migration> = {
  '004_character_images': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('character_images')
        .addColumn('character_id', 'uuid', (c) => c.primaryKey().references('characters.id'))
        .addColumn('data', 'bytea', (c) => c.notNull())
        .addColumn('mime_type', 'text', (c) => c.notNull())
        .addColumn('width', 'integer', (c) => c.notNull())
        .addColumn('height', 'integer', (c) => c.notNull())
        .addColumn('etag', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .execute();
    },
  },
};

/** What to do with a character's image in a write: keep it (undefined), replace it, or remove it (null). */
export type ImageChange = StoredImage | null | undefined;

/** Applies `change` to the character's image inside `tx` (the character's own write's transaction). */
export async function writeImage(tx: Kysely<CharactersTables>, characterId: string, change: ImageChange): Promise<void> {
  if (change === undefined) return;
  await tx.deleteFrom('character_images').where('character_id', '=', characterId).execute();
  if (change !== null) await tx.insertInto('character_images').values({ character_id: characterId, ...change, created_at: new Date() }).execute();
  await tx.updateTable('characters').set({ image_etag: change?.etag ?? null }).where('id', '=', characterId).execute();
}

/** A character's image with what decides who may load it. */
export type ServedImage = ImageRow & Pick<CharacterRow, 'visibility' | 'deleted_at'>;

/** Reads images. */
export class ImageStore {
  constructor(private readonly db: Kysely<CharactersTables>) {}

  /** The image of a character with its visibility, in one query; undefined without one. */
  forServing(characterId: string): Promise<ServedImage | undefined> {
    if (!isUuid(characterId)) return Promise.resolve(undefined);
    return this.db
      .selectFrom('character_images')
      .innerJoin('characters', 'characters.id', 'character_images.character_id')
      .selectAll('character_images')
      .select(['characters.visibility', 'characters.deleted_at'])
      .where('character_images.character_id', '=', characterId)
      .executeTakeFirst();
  }

  /** The stored image of a character (its export), or undefined. */
  async data(characterId: string): Promise<Buffer | undefined> {
    if (!isUuid(characterId)) return undefined;
    const row = await this.db.selectFrom('character_images').select('data').where('character_id', '=', characterId).executeTakeFirst();
    // PGlite answers bytea as a Uint8Array, pg as a Buffer.
    return row ? Buffer.from(row.data) : undefined;
  }
}
