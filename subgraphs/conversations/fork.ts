/** recordFork: the conversation a fork of a conversation's path becomes (its messages are the messages subgraph's to copy). */
import { requireViewer } from '@chat/shared/auth';
import { badInput, notFound } from '@chat/shared/errors';
import { requireService } from '@chat/shared/identity';
import { isUuid, LIMITS, text } from '@chat/shared/validate';
import type { Context } from './context';
import type { ConversationRow } from './store';

/** What the messages subgraph asks for: the conversation forked, the id it copied the messages to, and a title (optional). */
export interface ForkRequest {
  sourceId: string;
  forkId: string;
  title?: string | null;
}

/** The title a fork gets when none is given. */
export const forkTitle = (source: Pick<ConversationRow, 'title'>): string => `${source.title} (fork)`.slice(0, LIMITS.titleMax);

/**
 * recordFork (internal, the messages service only): a new conversation of the user it acts for,
 * copied from one of their own (an admin's access to others' conversations does not reach here:
 * a fork is owned by whoever forks). NOT_FOUND for anyone else's; a repeat returns the fork.
 */
export async function recordFork(ctx: Context, request: ForkRequest): Promise<ConversationRow> {
  requireService(ctx, 'messages');
  const viewer = requireViewer(ctx.viewer);
  const source = await ctx.loaders.conversation.load(request.sourceId);
  if (!source || source.user_id !== viewer.id) throw notFound('Conversation');
  if (!isUuid(request.forkId)) throw badInput('forkId', 'must be a conversation id');
  const title = request.title == null ? forkTitle(source) : text('title', request.title, { min: 1, max: LIMITS.titleMax }).trim();
  const fork = await ctx.store.fork(source, request.forkId, title);
  if (fork.user_id !== viewer.id) throw notFound('Conversation');
  return fork;
}
