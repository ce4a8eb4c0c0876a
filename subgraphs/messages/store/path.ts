/**
 * The active path's marks, read and moved inside a write transaction. A conversation's writes
 * take its lock first (its conversation_owners row, FOR UPDATE), so of concurrent changes to one
 * conversation each sees the path the previous one left; a switch then changes only the marks
 * that differ between the old path and the new one.
 */
import { sql, type Kysely } from 'kysely';
import { OPEN_STATUSES, type MessageRow, type MessagesTables } from './rows';

/** A database or a transaction on it. */
export type Db = Kysely<MessagesTables>;

/** A write refused because of the conversation's state; its message is for the user (the chat layer answers CONFLICT). */
export class PathConflict extends Error {}

/** What a change of a deleted message answers. */
export const DELETED = 'This message is deleted; restore it first (restoreMessage).';

/** What a write answers while a reply of the conversation is still being generated. */
export const REPLY_IN_PROGRESS = 'A reply of this conversation is still being written; cancel it (cancelReply) or wait for it to end.';

/**
 * Takes the conversation's write lock for the rest of the transaction; false when the
 * conversation has not started here (no owner recorded).
 */
export async function lockConversation(tx: Db, conversationId: string): Promise<boolean> {
  const row = await tx.selectFrom('conversation_owners').select('conversation_id').where('conversation_id', '=', conversationId).forUpdate().executeTakeFirst();
  return row !== undefined;
}

/** True while a reply of the conversation is PENDING or STREAMING. */
export async function isGenerating(db: Db, conversationId: string): Promise<boolean> {
  const open = await db
    .selectFrom('messages')
    .select('id')
    .where('conversation_id', '=', conversationId)
    .where('status', 'in', [...OPEN_STATUSES])
    .limit(1)
    .executeTakeFirst();
  return open !== undefined;
}

/** PathConflict while a reply of the conversation is PENDING or STREAMING. */
export async function refuseWhileGenerating(tx: Db, conversationId: string): Promise<void> {
  if (await isGenerating(tx, conversationId)) throw new PathConflict(REPLY_IN_PROGRESS);
}

/**
 * Runs `change` in a transaction holding the conversation's lock; with `refuseWhileGenerating`, it
 * first refuses (PathConflict) while one of the conversation's replies is open.
 */
export function underLock<T>(db: Db, conversationId: string, change: (tx: Db) => Promise<T>, options: { refuseWhileGenerating?: boolean } = {}): Promise<T> {
  return db.transaction().execute(async (tx) => {
    await lockConversation(tx, conversationId);
    if (options.refuseWhileGenerating) await refuseWhileGenerating(tx, conversationId);
    return change(tx);
  });
}

/** The message as stored now (read again under the lock). */
export function current(tx: Db, id: string): Promise<MessageRow> {
  return tx.selectFrom('messages').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

/** The last message of the conversation's active path (undefined when the path is empty). */
export function pathEnd(db: Db, conversationId: string): Promise<MessageRow | undefined> {
  return db.selectFrom('messages').selectAll().where('conversation_id', '=', conversationId).where('active', '=', true).orderBy('seq', 'desc').limit(1).executeTakeFirst();
}

/** The path from the conversation's first message down to `messageId`, that message included, oldest first (one query). */
export function pathTo(db: Db, messageId: string): Promise<MessageRow[]> {
  return db
    .withRecursive('up(id, parent_id)', (qb) =>
      qb
        .selectFrom('messages')
        .select(['id', 'parent_id'])
        .where('id', '=', messageId)
        .unionAll((next) => next.selectFrom('messages as m').innerJoin('up', 'up.parent_id', 'm.id').select(['m.id', 'm.parent_id'])),
    )
    .selectFrom('messages')
    .innerJoin('up', 'up.id', 'messages.id')
    .selectAll('messages')
    .orderBy('messages.seq')
    .execute();
}

/** The path remembered below `messageId` (following each message's active child, never into deleted ones), top first, without it. */
async function rememberedBelow(tx: Db, messageId: string): Promise<Array<{ id: string; next: string | null }>> {
  const { rows } = await sql<{ id: string; next: string | null; depth: number }>`
    WITH RECURSIVE down(id, next, depth) AS (
      SELECT id, active_child_id, 0 FROM messages WHERE id = ${messageId}
      UNION ALL
      SELECT m.id, m.active_child_id, down.depth + 1 FROM messages m JOIN down ON m.id = down.next
      WHERE m.deleted_at IS NULL AND m.parent_id = down.id
    )
    SELECT id, next, depth FROM down ORDER BY depth`.execute(tx);
  return rows.slice(1);
}

/**
 * Makes the active path run from the first message down to `messageId`, then on through the path
 * last active below it. Only the marks that change are written: `active` on the messages that
 * leave or join the path, and `active_child_id` on the messages whose child on the path changes.
 * Returns the new last message of the path. Call it holding the conversation's lock.
 */
export async function activate(tx: Db, conversationId: string, messageId: string): Promise<MessageRow> {
  const above = await pathTo(tx, messageId);
  const below = await rememberedBelow(tx, messageId);
  const path = [...above.map((m) => m.id), ...below.map((m) => m.id)];
  const old = await tx.selectFrom('messages').select('id').where('conversation_id', '=', conversationId).where('active', '=', true).execute();
  const onPath = new Set(path);
  const leaving = old.map((m) => m.id).filter((id) => !onPath.has(id));
  const wasOn = new Set(old.map((m) => m.id));
  const joining = path.filter((id) => !wasOn.has(id));
  if (leaving.length > 0) await tx.updateTable('messages').set({ active: false }).where(sql<boolean>`id = any(${leaving}::uuid[])`).execute();
  if (joining.length > 0) await tx.updateTable('messages').set({ active: true }).where(sql<boolean>`id = any(${joining}::uuid[])`).execute();
  // Above the message each one's active child becomes the next on the path; the path ends where the remembered one does.
  const pointers: Array<{ id: string; from: string | null; to: string | null }> = above.map((m, i) => ({
    id: m.id,
    from: m.active_child_id,
    to: i + 1 < above.length ? above[i + 1].id : (below[0]?.id ?? null),
  }));
  // A remembered path that stopped at a deleted child ends where it stopped.
  const tail = below.at(-1);
  if (tail && tail.next !== null) pointers.push({ id: tail.id, from: tail.next, to: null });
  for (const pointer of pointers.filter((p) => p.from !== p.to)) {
    await tx.updateTable('messages').set({ active_child_id: pointer.to }).where('id', '=', pointer.id).execute();
  }
  const lastId = below.at(-1)?.id ?? messageId;
  return tx.selectFrom('messages').selectAll().where('id', '=', lastId).executeTakeFirstOrThrow();
}

/**
 * Ends the active path at `parentId` (a deleted child left nothing to follow), or empties it when
 * there is no parent. Call it holding the conversation's lock.
 */
export async function endPathAt(tx: Db, conversationId: string, parentId: string | null): Promise<MessageRow | undefined> {
  if (parentId === null) {
    await tx.updateTable('messages').set({ active: false }).where('conversation_id', '=', conversationId).where('active', '=', true).execute();
    return undefined;
  }
  await tx.updateTable('messages').set({ active_child_id: null }).where('id', '=', parentId).execute();
  return activate(tx, conversationId, parentId);
}
