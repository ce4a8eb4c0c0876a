/** The messages subgraph's rows as stored, and the small types its store methods share. */
import type { CursorKey } from '@chat/shared/pagination';
import type { ModerationFlag } from '../moderation/moderate';

/**
 * A message as stored. Messages form a tree: each has a parent (the conversation's first has
 * none), and siblings are alternatives of each other. The conversation's active path, from its
 * first message down through one alternative at each level, is marked on the messages themselves
 * (`active`), so listing it is one indexed query; `active_child_id` remembers, on every message,
 * the child that was last active under it, so a switch back restores that path.
 */
export interface MessageRow {
  id: string;
  /** Insertion order within the whole store: messages read oldest first by it (a child always follows its parent). */
  seq: number;
  conversation_id: string;
  role: 'USER' | 'ASSISTANT' | 'SYSTEM';
  content: string;
  status: 'PENDING' | 'STREAMING' | 'COMPLETED' | 'FAILED' | 'CANCELLED';
  author_id: string | null;
  client_message_id: string | null;
  model: string | null;
  provider: string | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  total_tokens: number | null;
  finish_reason: string | null;
  latency_ms: number | null;
  error: string | null;
  created_at: Date;
  completed_at: Date | null;
  /** The message above it in the tree; null for a conversation's first message (and its alternate greetings). */
  parent_id: string | null;
  /** On the conversation's active path. */
  active: boolean;
  /** The child last active under it (null: the path ended here). */
  active_child_id: string | null;
  /** Soft-deleted, with everything below it, at this time (the same instant for the whole subtree). */
  deleted_at: Date | null;
  /** On a reply: the user message it answers (its parent when it was generated). */
  reply_to: string | null;
  /** What the content pipeline flagged on a user message (moderation/moderate.ts). */
  moderation_flags: ModerationFlag[];
  /** On a reply: the key of its latest credit hold in the users subgraph, and how many that hold took. */
  hold_key: string | null;
  /** Credits held for its generation; 0: it runs on its user's own provider key, which costs no credits. */
  credits_held: number | null;
  /** On an ended reply: the credits it cost, every generation of it together (each at most its hold). */
  credits: number | null;
  /** On a continued reply: the length of its text when the latest continuation began (only what follows is charged). */
  continued_from: number | null;
  /** On a generated reply: how long the provider took to send its first token (its latest generation). */
  first_token_ms: number | null;
}

/** What an ended reply owes the users subgraph, kept until the users subgraph has settled it (replies/settlements.ts). */
export interface SettlementRow {
  hold_key: string;
  user_id: string;
  reply_id: string;
  /** Credits the reply used; the rest of its hold goes back. */
  used: number;
  reason: string;
  attempts: number;
  next_attempt_at: Date;
  created_at: Date;
}

/** Which moderation flags refuse a message rather than only flag it (one row, set by admins). */
export interface ModerationPolicyRow {
  id: number;
  refuse: ModerationFlag[];
  updated_at: Date;
}

/** A running summary of the history that fell out of a large context window. */
export interface SummaryRow {
  conversation_id: string;
  summary: string;
  /** How many of the oldest messages of the prompt's history the summary covers. */
  covered_messages: number;
  /** The last message it covers: it is reused only for a history that runs through that message (the same branch). */
  covers_through: string | null;
  updated_at: Date;
}

/** Who owns a conversation: learned once, when its first message is stored, so access checks stay local. */
export interface ConversationOwnerRow {
  conversation_id: string;
  user_id: string;
  created_at: Date;
  /** Its character, for search and usage by character (null for conversations started before 100_search). */
  character_id: string | null;
  /** The text search configuration its messages are indexed with (its language; 'simple' by default). */
  search_config: string;
  /** An import not yet recorded by the conversations subgraph: nobody sees it (false when left out). */
  importing?: boolean;
  /** The conversations subgraph's state, copied here by it (lifecycle/state.ts): deleted hides every message. */
  deleted_at: Date | null;
  archived_at: Date | null;
}

/** References to entities other subgraphs own. */
export interface UserRef {
  id: string;
}
export interface ConversationRef {
  id: string;
}

/** A chat session that ended (realtime/sessions.ts), for Conversation.stats. */
export interface ConversationSessionRow {
  conversation_id: string;
  started_at: Date;
  ended_at: Date;
}

/** A user's saved message (templates/). */
export interface MessageTemplateRow {
  id: string;
  user_id: string;
  name: string;
  content: string;
  created_at: Date;
  updated_at: Date;
}

/** The messages subgraph's tables. */
export interface MessagesTables {
  messages: MessageRow;
  conversation_owners: ConversationOwnerRow;
  conversation_summaries: SummaryRow;
  moderation_policy: ModerationPolicyRow;
  credit_settlements: SettlementRow;
  conversation_sessions: ConversationSessionRow;
  message_templates: MessageTemplateRow;
}

/** Credits held for a reply's generation: the key the users subgraph holds them under, and how many (0 on the user's own key). */
export interface ReplyHold {
  replyId: string;
  holdKey: string;
  creditsHeld: number;
}

/** True for a reply generated with its user's own provider key: nothing was held, nothing is charged. */
export const onOwnKey = (reply: Pick<MessageRow, 'hold_key' | 'credits_held'>): boolean => reply.hold_key !== null && reply.credits_held === 0;

/** Reply states that are still going; the others are final. */
export const OPEN_STATUSES = ['PENDING', 'STREAMING'] as const;

/** True while a reply is still being generated (or waits to be). */
export const isOpen = (message: Pick<MessageRow, 'status'>): boolean => (OPEN_STATUSES as readonly string[]).includes(message.status);

/** What a finished reply stores. */
export type ReplyOutcome = Pick<
  MessageRow,
  'status' | 'content' | 'model' | 'provider' | 'prompt_tokens' | 'completion_tokens' | 'total_tokens' | 'finish_reason' | 'latency_ms' | 'error' | 'first_token_ms'
>;

/** The cursor key of a message: its place in insertion order. */
export const messageCursor = (row: MessageRow): CursorKey => [Number(row.seq)];
