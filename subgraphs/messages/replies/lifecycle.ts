/**
 * The one owner of a reply's state: PENDING → STREAMING → COMPLETED | FAILED | CANCELLED. Every
 * change goes through here, and every end does the same three things in the same order: store the
 * final row with what the reply owes (one transaction), publish the terminal event, settle.
 */
import type { Logger } from '@chat/shared/log';
import { traceHeaders } from '@chat/shared/tracing';
import type { ConversationEventKind, EventBus } from '../realtime/events';
import type { MessageRow, MessagesStore, ReplyOutcome } from '../store';
import { creditsFor, DEFAULT_PRICE, tokensUsed, type CreditPrice } from './cost';

/** The states a reply ends in. */
export type TerminalStatus = 'COMPLETED' | 'FAILED' | 'CANCELLED';

/** The event that announces each end. */
export const TERMINAL_EVENT: Record<TerminalStatus, ConversationEventKind> = {
  COMPLETED: 'REPLY_COMPLETED',
  FAILED: 'REPLY_FAILED',
  CANCELLED: 'REPLY_CANCELLED',
};

/** The finish reason stored for ends the provider did not name. */
export const FINISH_REASON = { FAILED: 'error', CANCELLED: 'cancelled' } as const;

/** What an ended reply stores besides its status, error and finish reason: its text and how it was made. */
export type ReplyEnding = Partial<Omit<ReplyOutcome, 'status' | 'error'>>;

/**
 * What a reply that did not complete used: the prompt, once the provider was asked (kept out of
 * its stored token usage, which is a completed reply's), counted with the text it kept.
 */
export interface PartialUsage {
  promptTokens: number;
  /** The model's price (default one credit a token). */
  price?: CreditPrice;
  /** Characters at the start of the text an earlier generation wrote (a continued reply's): not charged again. */
  priorChars?: number;
}

/**
 * Settles what an ended reply owes. Called once on every terminal transition, after the row and
 * its settlement were stored together; `reply` is the row as stored, its `credits` what it cost.
 */
export type SettleReply = (reply: MessageRow) => void;

/** What the lifecycle writes to, announces on and settles with. */
export interface ReplyLifecycleDeps {
  store: MessagesStore;
  bus: EventBus;
  settle: SettleReply;
  log: Logger;
}

/**
 * A reply's transitions. The rule for errors: the stored row is the reply's truth, so a failure
 * to store throws (nothing happened), while once it is stored, a failure to publish or to settle is
 * logged and the transition still counts. The rule for traces: terminal events carry the trace of
 * the work that ended the reply (a generation, a cancel request), when there is one.
 */
export class ReplyLifecycle {
  constructor(private readonly deps: ReplyLifecycleDeps) {}

  /** PENDING → STREAMING as its first token arrives; false when it is no longer pending (cancelled, or taken elsewhere). */
  startStreaming(replyId: string): Promise<boolean> {
    return this.deps.store.markStreaming(replyId);
  }

  /** → COMPLETED with its text, usage and the provider's finish reason; it costs its tokens at `price`. Undefined when it had already ended. */
  complete(replyId: string, ending: ReplyEnding, price: CreditPrice = DEFAULT_PRICE): Promise<MessageRow | undefined> {
    return this.end(replyId, { ...ending, status: 'COMPLETED' }, creditsFor(tokensUsed(ending), price));
  }

  /**
   * → FAILED, with `error` as the user reads it (their message is kept); it costs what it used
   * (`usage`, once the provider was asked, and the text it kept). Undefined when it had already ended.
   */
  fail(replyId: string, error: string, ending: ReplyEnding = {}, usage?: PartialUsage): Promise<MessageRow | undefined> {
    return this.end(replyId, { ...ending, status: 'FAILED', finish_reason: FINISH_REASON.FAILED, error }, partialCost(ending, usage));
  }

  /** → CANCELLED, keeping the text so far; it costs what it used, as a failure does. Undefined when it had already ended. */
  cancel(replyId: string, ending: ReplyEnding = {}, usage?: PartialUsage): Promise<MessageRow | undefined> {
    return this.end(replyId, { ...ending, status: 'CANCELLED', finish_reason: FINISH_REASON.CANCELLED, error: null }, partialCost(ending, usage));
  }

  private async end(replyId: string, outcome: ReplyEnding & { status: TerminalStatus; error?: string | null }, used: number): Promise<MessageRow | undefined> {
    const { store, bus, settle, log } = this.deps;
    const ended = await store.finish(replyId, outcome, used);
    if (!ended) return undefined;
    const trace = traceHeaders();
    await bus
      .publish(ended.conversation_id, {
        kind: TERMINAL_EVENT[outcome.status],
        messageId: ended.id,
        message: ended,
        error: ended.error,
        ...(Object.keys(trace).length > 0 ? { trace } : {}),
      })
      .catch((err) => log.error({ err, replyId }, 'publishing the end of a reply failed'));
    settle(ended);
    return ended;
  }
}

/** The credits a reply that did not complete used: nothing before the provider was asked. */
function partialCost(ending: ReplyEnding, usage: PartialUsage | undefined): number {
  if (!usage) return 0;
  return creditsFor(tokensUsed({ prompt_tokens: usage.promptTokens, content: ending.content?.slice(usage.priorChars ?? 0) }), usage.price ?? DEFAULT_PRICE);
}
