/**
 * The one owner of a reply's state: PENDING → STREAMING → COMPLETED | FAILED | CANCELLED. Every
 * change goes through here, and every end does the same three things in the same order: store the
 * final row, publish the terminal event, settle what the reply owes.
 */
import type { Logger } from '@chat/shared/log';
import type { CallIdentity } from '@chat/shared/peer-client';
import { traceHeaders } from '@chat/shared/tracing';
import type { ConversationEventKind, EventBus } from '../realtime/events';
import type { MessageRow, MessagesStore, ReplyOutcome } from '../store';

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
 * Settles what an ended reply owes, acting for the user it was written for. Called once on every
 * terminal transition; `reply` is the row as stored, its status says how it ended.
 */
export type SettleReply = (reply: MessageRow, actingFor: CallIdentity) => Promise<void>;

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

  /** → COMPLETED with its text, usage and the provider's finish reason; undefined when it had already ended. */
  complete(replyId: string, actingFor: CallIdentity, ending: ReplyEnding): Promise<MessageRow | undefined> {
    return this.end(replyId, actingFor, { ...ending, status: 'COMPLETED' });
  }

  /** → FAILED, with `error` as the user reads it (their message is kept); undefined when it had already ended. */
  fail(replyId: string, actingFor: CallIdentity, error: string, ending: ReplyEnding = {}): Promise<MessageRow | undefined> {
    return this.end(replyId, actingFor, { ...ending, status: 'FAILED', finish_reason: FINISH_REASON.FAILED, error });
  }

  /** → CANCELLED, keeping the text so far; undefined when it had already ended. */
  cancel(replyId: string, actingFor: CallIdentity, ending: ReplyEnding = {}): Promise<MessageRow | undefined> {
    return this.end(replyId, actingFor, { ...ending, status: 'CANCELLED', finish_reason: FINISH_REASON.CANCELLED, error: null });
  }

  private async end(replyId: string, actingFor: CallIdentity, outcome: ReplyEnding & { status: TerminalStatus; error?: string | null }): Promise<MessageRow | undefined> {
    const { store, bus, settle, log } = this.deps;
    const ended = await store.finish(replyId, outcome);
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
    await settle(ended, actingFor).catch((err) => log.error({ err, replyId }, 'settling a reply failed'));
    return ended;
  }
}
