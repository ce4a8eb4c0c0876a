/** recordConversationStart: a new conversation's first message, its character's greeting, and its owner. */
import { canAccess, requireViewer } from '@chat/shared/auth';
import { notFound } from '@chat/shared/errors';
import { DEFAULT_SEARCH_LANGUAGE, searchLanguage } from '@chat/shared/search-languages';
import { isUuid } from '@chat/shared/validate';
import { mayRead } from '../access';
import type { Context } from '../context';
import type { MessageRow } from '../store';

/** What the conversations subgraph knows of a conversation it starts. */
export interface ConversationStart {
  conversationId: string;
  /** Its owner: recorded the first time, when the caller may act for them. */
  userId?: string | null;
  /** Its character's greeting, stored as its first message the first time. */
  greeting?: string | null;
  /** The character's alternate greetings, stored as the greeting's alternatives the first time. */
  alternateGreetings?: readonly string[] | null;
  /** Its character, recorded with its owner (search and usage filter by it). */
  characterId?: string | null;
  /** The language its messages are searched in (ConversationSettings.language). */
  language?: string | null;
}

/**
 * recordConversationStart: stores the greeting (with its alternatives) and the owner once; every call, the first or a
 * repeat, answers the greeting stored, to the conversation's owner (or an admin) only.
 */
export async function recordConversationStart(ctx: Context, start: ConversationStart): Promise<MessageRow> {
  const viewer = requireViewer(ctx.viewer);
  const { conversationId, userId, greeting, alternateGreetings, characterId, language } = start;
  if (!isUuid(conversationId)) throw notFound('Conversation');
  const records = userId != null && greeting != null && isUuid(userId) && canAccess(viewer, userId);
  const first = records ? await ctx.store.recordStart(conversationId, userId, greeting, (alternateGreetings ?? []).filter((text) => text !== ''), {
        characterId: characterId != null && isUuid(characterId) ? characterId : null,
        language: searchLanguage('language', language ?? DEFAULT_SEARCH_LANGUAGE),
      }) : await ctx.store.opening(conversationId);
  // Owners as recorded, not as claimed: a conversation started by someone else stays NOT_FOUND.
  if (!first || !(await mayRead(ctx, conversationId))) throw notFound('Conversation');
  return first;
}
