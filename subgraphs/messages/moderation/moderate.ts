/**
 * The content pipeline of the seeds, as flags rather than silent edits: a user message is stored
 * exactly as sent (minus control characters) with the flags it raised; an admin policy says which
 * flags refuse a message instead.
 */

/** What a message can be flagged for (the contract's ModerationFlag). */
export type ModerationFlag = 'PROMPT_INJECTION' | 'PERSONAL_DATA' | 'SPAM';
export const MODERATION_FLAGS: readonly ModerationFlag[] = ['PROMPT_INJECTION', 'PERSONAL_DATA', 'SPAM'];

/** Phrasings that try to override the character's instructions. */
export const PROMPT_INJECTION_PATTERNS: readonly RegExp[] = [
  /\b(ignore|disregard|forget|override)\b[^.\n]{0,40}\b(previous|prior|above|earlier|all|your|the)\b[^.\n]{0,20}\b(instructions?|prompts?|rules|directives)\b/i,
  /\b(reveal|show|print|repeat|output)\b[^.\n]{0,30}\b(system|hidden|initial)\s+(prompt|instructions?|message)\b/i,
  /\byou\s+are\s+now\s+(in\s+)?(developer|dan|jailbreak|unrestricted|god)\b/i,
  /\b(jailbreak|do\s+anything\s+now)\b/i,
  /<\|?(im_start|im_end|system)\|?>|\[\/?(INST|SYS)\]/i,
];

/**
 * Personal data: email addresses and phone numbers (7+ digits with the usual separators). Every
 * repetition is bounded, so a 50,000-character message without spaces costs linear time, not quadratic.
 */
export const PERSONAL_DATA_PATTERNS: readonly RegExp[] = [
  /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}/,
  /(?<![\w])\+?\d{1,3}?[\s.-]?(\(\d{2,4}\)|\d{2,4})[\s.-]?\d{3,4}[\s.-]?\d{3,4}(?![\w])/,
];

/** Spam: the same text as one of the sender's last messages, or one short piece repeated over and over. */
export const SPAM_RECENT_MESSAGES = 3;
export const SPAM_REPEATED_PIECE = /(.{1,20}?)\1{7,}/s;
/** Messages shorter than this are never spam by repetition ("ok", "yes"...). */
const SPAM_MIN_LENGTH = 20;

/** The flags `content` raises, given the sender's most recent messages in the conversation (newest first). */
export function moderate(content: string, recentFromSender: readonly string[] = []): ModerationFlag[] {
  const flags: ModerationFlag[] = [];
  if (PROMPT_INJECTION_PATTERNS.some((pattern) => pattern.test(content))) flags.push('PROMPT_INJECTION');
  if (PERSONAL_DATA_PATTERNS.some((pattern) => pattern.test(content))) flags.push('PERSONAL_DATA');
  const normalised = content.trim().toLowerCase();
  const repeated = recentFromSender.slice(0, SPAM_RECENT_MESSAGES).some((earlier) => earlier.trim().toLowerCase() === normalised);
  if (normalised.length >= SPAM_MIN_LENGTH && (repeated || SPAM_REPEATED_PIECE.test(normalised))) flags.push('SPAM');
  return flags;
}
