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

/** A persona as the users subgraph gives it. */
export interface PersonaFields {
  name: string;
  description?: string | null;
}

/**
 * The persona the user chats as, whose name `{{user}}` stands for: the conversation's, else the user's default
 * persona, else their display name (with no description); an empty name when the user is not known either.
 */
export function chatPersona(
  conversationPersona: PersonaFields | null | undefined,
  user: { displayName: string; personas: readonly (PersonaFields & { isDefault: boolean })[] } | null | undefined,
): { name: string; description: string } {
  const chosen = conversationPersona ?? user?.personas.find((persona) => persona.isDefault);
  return chosen ? { name: chosen.name, description: chosen.description ?? '' } : { name: user?.displayName ?? '', description: '' };
}
