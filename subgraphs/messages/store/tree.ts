/**
 * The conversation as a tree: moving the active path (select, delete, restore), copying a path
 * into a new conversation (fork), and the reads that show every branch (alternatives, the whole
 * tree page by page). Messages are never changed here except their marks and `deleted_at`.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { PageWindow } from '@chat/shared/pagination';
import { isUuid } from '@chat/shared/validate';
import { activate, current, DELETED, endPathAt, pathEnd, PathConflict, pathTo, underLock, type Db } from './path';
import { isOpen, type MessageRow } from './rows';

/** A change of the active path: the message acted on, as stored after it, and the path's new last message. */
export interface PathChange {
  message: MessageRow;
  last: MessageRow | undefined;
}

/** The key of a message's alternatives: its parent, or for first messages their conversation (they share no parent). */
export type SiblingKey = string;

/** The sibling key of a message. */
export const siblingKey = (message: Pick<MessageRow, 'parent_id' | 'conversation_id'>): SiblingKey => message.parent_id ?? `root:${message.conversation_id}`;

/** Why a message cannot be restored while its parent stays deleted. */
const PARENT_DELETED = 'The message above it is deleted: restore that one first.';
/** Why the last message cannot be moved away from a reply being written. */
const DELETING_OPEN_REPLY = 'A reply there is still being written; cancel it (cancelReply) first.';

/** Path switches, soft deletion and forks of conversations, each in one transaction under the conversation's lock. */
export class MessageTree {
  constructor(private readonly db: () => Db) {}

  /** The active path now runs through `messageId` and, below it, the path last active there. */
  select(message: MessageRow): Promise<PathChange> {
    return this.underLock(message.conversation_id, async (tx) => {
      const now = await current(tx, message.id);
      if (now.deleted_at) throw new PathConflict(DELETED);
      return { message: now, last: await activate(tx, now.conversation_id, now.id) };
    });
  }

  /**
   * Soft-deletes the message and everything below it (one instant for all of them). When it was on
   * the active path, the path moves to its nearest remaining alternative (the one before it, else
   * the one after it) and the path remembered there, or ends at its parent.
   */
  remove(message: MessageRow): Promise<PathChange> {
    return this.underLock(message.conversation_id, async (tx) => {
      const now = await current(tx, message.id);
      if (now.deleted_at) return { message: now, last: await pathEnd(tx, now.conversation_id) };
      const below = await subtree(tx, now.id, null);
      if (below.some(isOpen)) throw new PathConflict(DELETING_OPEN_REPLY);
      // The transaction's own instant (to the microsecond): what is deleted together is restored together.
      await tx.updateTable('messages').set({ deleted_at: sql<Date>`now()`, active: false }).where(sql<boolean>`id = any(${below.map((m) => m.id)}::uuid[])`).execute();
      const nearest = await nearestSibling(tx, now);
      let last: MessageRow | undefined;
      if (now.active) {
        last = nearest ? await activate(tx, now.conversation_id, nearest.id) : await endPathAt(tx, now.conversation_id, now.parent_id);
      } else {
        // Off the path: its parent no longer remembers it as the child to come back to.
        if (now.parent_id) await tx.updateTable('messages').set({ active_child_id: nearest?.id ?? null }).where('id', '=', now.parent_id).where('active_child_id', '=', now.id).execute();
        last = await pathEnd(tx, now.conversation_id);
      }
      return { message: await current(tx, now.id), last };
    });
  }

  /**
   * Restores a deleted message and what was deleted with it (not what was deleted before, on its
   * own), and makes the active path run through it again. A message not deleted is left as it is.
   */
  restore(message: MessageRow): Promise<PathChange> {
    return this.underLock(message.conversation_id, async (tx) => {
      const now = await current(tx, message.id);
      if (!now.deleted_at) return { message: now, last: await pathEnd(tx, now.conversation_id) };
      if (now.parent_id && (await current(tx, now.parent_id)).deleted_at) throw new PathConflict(PARENT_DELETED);
      const together = await subtree(tx, now.id, now.deleted_at);
      await tx.updateTable('messages').set({ deleted_at: null }).where(sql<boolean>`id = any(${together.map((m) => m.id)}::uuid[])`).execute();
      const last = await activate(tx, now.conversation_id, now.id);
      return { message: await current(tx, now.id), last };
    });
  }

  /**
   * Copies the path from the first message down to `messageId` into the conversation `forkId`,
   * owned by `ownerId`: new ids, the same texts and states, the copies forming the fork's active
   * path. Nothing of the credits a reply cost is copied (the fork owes nothing). Returns the copies.
   */
  async copyPath(messageId: string, forkId: string, ownerId: string): Promise<MessageRow[]> {
    return this.db()
      .transaction()
      .execute(async (tx) => {
        const path = await pathTo(tx, messageId);
        if (path.some(isOpen)) throw new PathConflict('That reply is still being written; fork once it has ended.');
        const source = await tx.selectFrom('conversation_owners').select(['character_id', 'search_config']).where('conversation_id', '=', path[0].conversation_id).executeTakeFirstOrThrow();
        await tx.insertInto('conversation_owners').values({ conversation_id: forkId, user_id: ownerId, created_at: new Date(), ...source }).execute();
        const ids = path.map(() => randomUUID());
        const parents = ids.map((_, i) => (i === 0 ? null : ids[i - 1]));
        const children = ids.map((_, i) => ids[i + 1] ?? null);
        // One statement, in path order: each copy's seq follows its parent's.
        await sql`
          INSERT INTO messages (id, conversation_id, role, content, status, author_id, model, provider, prompt_tokens, completion_tokens,
            total_tokens, finish_reason, latency_ms, error, created_at, completed_at, parent_id, active, active_child_id, reply_to, moderation_flags)
          SELECT c.new_id, ${forkId}::uuid, m.role, m.content, m.status, m.author_id, m.model, m.provider, m.prompt_tokens, m.completion_tokens,
            m.total_tokens, m.finish_reason, m.latency_ms, m.error, m.created_at, m.completed_at, c.new_parent, true, c.new_child,
            CASE WHEN m.reply_to IS NULL THEN NULL ELSE c.new_parent END, m.moderation_flags
          FROM unnest(${path.map((m) => m.id)}::uuid[], ${ids}::uuid[], ${parents}::uuid[], ${children}::uuid[]) WITH ORDINALITY AS c(old_id, new_id, new_parent, new_child, n)
          JOIN messages m ON m.id = c.old_id
          ORDER BY c.n`.execute(tx);
        return tx.selectFrom('messages').selectAll().where('conversation_id', '=', forkId).orderBy('seq').execute();
      });
  }

  /** Undoes copyPath when the fork could not be recorded (its conversation does not exist). */
  async dropCopy(forkId: string): Promise<void> {
    await this.db()
      .transaction()
      .execute(async (tx) => {
        await tx.deleteFrom('messages').where('conversation_id', '=', forkId).execute();
        await tx.deleteFrom('conversation_owners').where('conversation_id', '=', forkId).execute();
      });
  }

  /** Every message under each of the sibling keys (parents, or `root:<conversation>`), deleted ones too, oldest first: one query. */
  siblings(keys: readonly SiblingKey[]): Promise<MessageRow[]> {
    const parents = keys.filter(isUuid);
    const roots = keys.filter((key) => key.startsWith('root:')).map((key) => key.slice('root:'.length)).filter(isUuid);
    if (parents.length === 0 && roots.length === 0) return Promise.resolve([]);
    return this.db()
      .selectFrom('messages')
      .selectAll()
      .where((eb) =>
        eb.or([
          ...(parents.length > 0 ? [eb('parent_id', 'in', parents)] : []),
          ...(roots.length > 0 ? [eb.and([eb('parent_id', 'is', null), eb('conversation_id', 'in', roots)])] : []),
        ]),
      )
      .orderBy('seq')
      .execute();
  }

  /** One page of every message of every branch, oldest first (deleted ones only when asked), limit + 1 rows. */
  page(conversationId: string, window: PageWindow, includeDeleted: boolean): Promise<MessageRow[]> {
    let query = this.db().selectFrom('messages').selectAll().where('conversation_id', '=', conversationId);
    if (!includeDeleted) query = query.where('deleted_at', 'is', null);
    if (window.cursor) query = query.where('seq', '>', Number(window.cursor[0]));
    return query.orderBy('seq').limit(window.limit + 1).execute();
  }

  /** Runs `change` in a transaction holding the conversation's lock. */
  private underLock<T>(conversationId: string, change: (tx: Db) => Promise<T>): Promise<T> {
    return underLock(this.db(), conversationId, change);
  }
}

/** The message and every message below it: not deleted (`deletedAt` null), or deleted at exactly that instant. */
async function subtree(tx: Db, id: string, deletedAt: Date | null): Promise<MessageRow[]> {
  const same = deletedAt === null ? sql`m.deleted_at IS NULL` : sql`m.deleted_at = (SELECT deleted_at FROM messages WHERE id = ${id})`;
  const { rows } = await sql<MessageRow>`
    WITH RECURSIVE below(id) AS (
      SELECT id FROM messages WHERE id = ${id}
      UNION ALL
      SELECT m.id FROM messages m JOIN below ON m.parent_id = below.id WHERE ${same}
    )
    SELECT messages.* FROM messages JOIN below USING (id)`.execute(tx);
  return rows;
}

/** The nearest alternative of `message` not deleted: the one just before it, else the one just after it. */
async function nearestSibling(tx: Db, message: MessageRow): Promise<MessageRow | undefined> {
  const siblings = tx
    .selectFrom('messages')
    .selectAll()
    .where('conversation_id', '=', message.conversation_id)
    .where('deleted_at', 'is', null)
    .where('id', '!=', message.id)
    .where((eb) => (message.parent_id ? eb('parent_id', '=', message.parent_id) : eb('parent_id', 'is', null)));
  const before = await siblings.where('seq', '<', message.seq).orderBy('seq', 'desc').limit(1).executeTakeFirst();
  return before ?? (await siblings.where('seq', '>', message.seq).orderBy('seq').limit(1).executeTakeFirst());
}
