/** A user's message templates: saved texts (with macros) sent with sendMessage(templateId). */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { isUuid } from '@chat/shared/validate';
import type { Db } from '../store/path';
import type { MessageTemplateRow } from '../store/rows';

export class MessageTemplates {
  constructor(private readonly db: () => Db) {}

  /** The user's templates, oldest first. */
  ofUser(userId: string): Promise<MessageTemplateRow[]> {
    return this.db().selectFrom('message_templates').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('id').execute();
  }

  /** The template when it is the user's; undefined otherwise (someone else's looks missing). */
  owned(id: string, userId: string): Promise<MessageTemplateRow | undefined> {
    if (!isUuid(id)) return Promise.resolve(undefined);
    return this.db().selectFrom('message_templates').selectAll().where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
  }

  /**
   * A new template, unless the user already has `max`: undefined then. The count and the insert are one statement,
   * so concurrent creations never pass the limit.
   */
  async create(userId: string, name: string, content: string, max: number): Promise<MessageTemplateRow | undefined> {
    const now = new Date();
    const { rows } = await sql<MessageTemplateRow>`
      INSERT INTO message_templates (id, user_id, name, content, created_at, updated_at)
      SELECT ${randomUUID()}, ${userId}, ${name}, ${content}, ${now}, ${now}
      WHERE (SELECT count(*) FROM message_templates WHERE user_id = ${userId}) < ${max}
      RETURNING *`.execute(this.db());
    return rows[0];
  }

  update(id: string, userId: string, changes: Partial<Pick<MessageTemplateRow, 'name' | 'content'>>): Promise<MessageTemplateRow | undefined> {
    if (!isUuid(id)) return Promise.resolve(undefined);
    return this.db().updateTable('message_templates').set({ ...changes, updated_at: new Date() }).where('id', '=', id).where('user_id', '=', userId).returningAll().executeTakeFirst();
  }

  async remove(id: string, userId: string): Promise<boolean> {
    if (!isUuid(id)) return false;
    const result = await this.db().deleteFrom('message_templates').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}
