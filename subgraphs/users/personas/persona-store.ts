/**
 * Personas: who a user is in a conversation (a name and a description the character sees). A user
 * has at most one default persona: a partial unique index says so, and making one default unsets
 * the other in the same transaction, under the user's row lock, so two at once cannot both win.
 * Deleting is soft: conversations that name a persona keep resolving it for its owner.
 */
import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import { isUuid } from '@chat/shared/validate';

/** A persona as stored. */
export interface PersonaRow {
  id: string;
  owner_id: string;
  name: string;
  description: string;
  is_default: boolean;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
}

/** The table, and the users table a write locks. */
export interface PersonaTables {
  personas: PersonaRow;
  users: { id: string };
}

/** What a write gives. */
export type PersonaFields = Pick<PersonaRow, 'name' | 'description' | 'is_default'>;

export const personaMigrations: Record<string, Migration> = {
  '006_personas': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('personas')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('owner_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('is_default', 'boolean', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addColumn('deleted_at', 'timestamptz')
        .execute();
      await sql`CREATE INDEX personas_owned ON personas (owner_id, created_at) WHERE deleted_at IS NULL`.execute(db);
      // At most one default per user, whatever races.
      await sql`CREATE UNIQUE INDEX personas_one_default ON personas (owner_id) WHERE is_default AND deleted_at IS NULL`.execute(db);
    },
  },
};

/** Reads and writes personas; `db` is the users subgraph's database (its tables include PersonaTables). */
export class PersonaStore {
  private readonly db: Kysely<PersonaTables>;

  constructor(db: Kysely<any>) {
    this.db = db;
  }

  /** Personas by id in one query, deleted ones included. */
  byIds(ids: readonly string[]): Promise<PersonaRow[]> {
    const valid = ids.filter(isUuid);
    if (valid.length === 0) return Promise.resolve([]);
    return this.db.selectFrom('personas').selectAll().where('id', 'in', valid).execute();
  }

  /** A user's live personas, oldest first. */
  ofOwner(ownerId: string): Promise<PersonaRow[]> {
    return this.db.selectFrom('personas').selectAll().where('owner_id', '=', ownerId).where('deleted_at', 'is', null).orderBy('created_at').orderBy('id').execute();
  }

  /** Runs `write` in a transaction holding the owner's row lock, so their personas change one write at a time. */
  private underOwnerLock<T>(ownerId: string, write: (tx: Kysely<PersonaTables>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(async (tx) => {
      await tx.selectFrom('users').select('id').where('id', '=', ownerId).forUpdate().execute();
      return write(tx);
    });
  }

  /** Unsets the owner's default persona (inside their lock, before another becomes it). */
  private async unsetDefault(tx: Kysely<PersonaTables>, ownerId: string): Promise<void> {
    await tx.updateTable('personas').set({ is_default: false }).where('owner_id', '=', ownerId).where('is_default', '=', true).execute();
  }

  /** A new persona; undefined when the owner already has `max` live ones (counted under the lock). */
  create(ownerId: string, fields: PersonaFields, max: number): Promise<PersonaRow | undefined> {
    return this.underOwnerLock(ownerId, async (tx) => {
      const { count } = await tx
        .selectFrom('personas')
        .select((eb) => eb.fn.countAll<number>().as('count'))
        .where('owner_id', '=', ownerId)
        .where('deleted_at', 'is', null)
        .executeTakeFirstOrThrow();
      if (Number(count) >= max) return undefined;
      if (fields.is_default) await this.unsetDefault(tx, ownerId);
      const now = new Date();
      return tx
        .insertInto('personas')
        .values({ id: randomUUID(), owner_id: ownerId, ...fields, created_at: now, updated_at: now, deleted_at: null })
        .returningAll()
        .executeTakeFirstOrThrow();
    });
  }

  /** Changes a live persona of the owner's (nothing else when it is gone: undefined). */
  update(ownerId: string, id: string, fields: Partial<PersonaFields>): Promise<PersonaRow | undefined> {
    if (!isUuid(id)) return Promise.resolve(undefined);
    return this.underOwnerLock(ownerId, async (tx) => {
      const live = await tx.selectFrom('personas').select('id').where('id', '=', id).where('owner_id', '=', ownerId).where('deleted_at', 'is', null).executeTakeFirst();
      if (!live) return undefined;
      if (fields.is_default) await this.unsetDefault(tx, ownerId);
      return tx.updateTable('personas').set({ ...fields, updated_at: new Date() }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
    });
  }

  /** Soft-deletes a live persona of the owner's (no longer their default); false when there is none. */
  async softDelete(ownerId: string, id: string): Promise<boolean> {
    if (!isUuid(id)) return false;
    const result = await this.db
      .updateTable('personas')
      .set({ deleted_at: new Date(), is_default: false })
      .where('id', '=', id)
      .where('owner_id', '=', ownerId)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
}
