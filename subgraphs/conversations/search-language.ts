/** A conversation's search language (settings.language): checked here, kept by the messages subgraph, which indexes the messages. */
import type { Viewer } from '@chat/shared/auth';
import { DEFAULT_SEARCH_LANGUAGE, searchLanguage } from '@chat/shared/search-languages';
import type { Context } from './context';
import type { ConversationSettingsInput } from './generated/graphql';
import { SetConversationLanguageDocument } from './generated/peers/messages';
import type { ConversationSettings } from './store';

/** The language settings say (conversations stored before it existed say nothing: the default). */
export const languageOf = (settings: Pick<ConversationSettings, 'language'>): string => settings.language ?? DEFAULT_SEARCH_LANGUAGE;

/** The input's language checked (BAD_USER_INPUT on settings.language), or the current one. */
export function mergeLanguage(current: Pick<ConversationSettings, 'language'>, input: ConversationSettingsInput | null | undefined): string {
  return input?.language != null ? searchLanguage('settings.language', input.language) : languageOf(current);
}

/** Tells the messages subgraph when an update changes the language (before it is stored: a refusal there changes nothing). */
export async function syncLanguage(ctx: Context, viewer: Viewer, conversationId: string, before: ConversationSettings, after: ConversationSettings): Promise<void> {
  if (languageOf(before) === languageOf(after)) return;
  await ctx.peers.messages.call(SetConversationLanguageDocument, { conversationId, language: languageOf(after) }, { actingFor: viewer });
}
