/**
 * Character-card macros: `{{char}}` and `{{user}}` (any case), and V1's `<BOT>` and `<USER>`, become the character's
 * name and the name the user chats under. Used wherever a character's text reaches the model or a greeting is stored.
 */

/** The character's name: `{{char}}`, or V1's `<BOT>`, in any case. */
export const CHAR_MACRO = /\{\{char\}\}|<bot>/gi;
/** The user's (persona's) name: `{{user}}`, or V1's `<USER>`, in any case. */
export const USER_MACRO = /\{\{user\}\}|<user>/gi;

/** What the macros become. */
export interface MacroNames {
  /** The character's name. */
  char: string;
  /** The conversation's persona name (else the user's default persona's, else their display name). */
  user: string;
}

/** `text` with its macros replaced; a function replacer, so `$&` in a name stays literal. */
export function expandMacros(text: string, names: MacroNames): string {
  return text.replace(CHAR_MACRO, () => names.char).replace(USER_MACRO, () => names.user);
}

/** The name `{{user}}` stands for: the conversation's persona, else the user's default persona, else their display name. */
export function userMacroName(conversationPersona: { name: string } | null | undefined, defaultPersona: { name: string } | null | undefined, displayName: string): string {
  return conversationPersona?.name || defaultPersona?.name || displayName;
}
