/** The admins' content policy: which moderation flags refuse a message instead of only flagging it. */
import { contractError, ErrorCode } from '@chat/shared/errors';
import { requireAdmin } from '../access';
import type { Context } from '../context';
import type { MessagesStore } from '../store';
import { moderate, SPAM_RECENT_MESSAGES, type ModerationFlag } from './moderate';

/** The flags a new message raises; BAD_USER_INPUT naming them when the policy refuses any. */
export async function screen(store: MessagesStore, conversationId: string, authorId: string, content: string): Promise<ModerationFlag[]> {
  const flags = moderate(content, await store.recentFrom(conversationId, authorId, SPAM_RECENT_MESSAGES));
  const refused = (await store.moderationPolicy()).filter((flag) => flags.includes(flag));
  if (refused.length > 0) {
    throw contractError(ErrorCode.BAD_USER_INPUT, `content: refused by the content policy (${refused.join(', ')})`, { field: 'content', flags: refused });
  }
  return flags;
}

/** moderationPolicy: the flags that refuse a message (admins only). */
export async function moderationPolicy(ctx: Context) {
  requireAdmin(ctx, 'see the moderation policy');
  return { refuse: await ctx.store.moderationPolicy() };
}

/** setModerationPolicy: which flags refuse a message from now on (admins only). */
export async function setModerationPolicy(ctx: Context, refuse: readonly ModerationFlag[]) {
  requireAdmin(ctx, 'set the moderation policy');
  const stored = await ctx.store.setModerationPolicy([...new Set(refuse)]);
  ctx.audit.record({ admin: ctx.viewer!.id, action: 'setModerationPolicy', target: 'moderation-policy', details: { refuse: stored } });
  return { refuse: stored };
}
