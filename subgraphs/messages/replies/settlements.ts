/**
 * Settling what ended replies owe. A reply's end and its settlement row are written in one
 * transaction (MessagesStore.finish), so a crash cannot lose one; this drains the rows to the
 * users subgraph as the messages service itself, never with a user's token, retrying with backoff
 * until each is taken. Settling is idempotent there, so a row drained twice settles once.
 */
import type { Logger } from '@chat/shared/log';
import type { PeerClient } from '@chat/shared/peer-client';
import { SettleCreditsDocument } from '../generated/peers/users';
import type { MessagesStore, SettlementRow } from '../store';
import type { ReplyMetrics } from './metrics';

/** How the drain runs: rows per round, the pause when idle, and the backoff of a failed row. */
export const SETTLEMENT_DRAIN = {
  batch: 50,
  idleMs: 1_000,
  retryBaseMs: 500,
  retryMaxMs: 60_000,
} as const;

/** The pause before attempt `attempts + 1` of a row that failed `attempts` times. */
export function retryDelayMs(attempts: number): number {
  return Math.min(SETTLEMENT_DRAIN.retryMaxMs, SETTLEMENT_DRAIN.retryBaseMs * 2 ** attempts);
}

/** Drains the settlement outbox in the background while started. */
export class CreditSettler {
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly deps: { store: MessagesStore; users: PeerClient; log: Logger; metrics: ReplyMetrics }) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** A row was written: drain now rather than at the next idle tick. */
  kick(): void {
    this.wake?.();
  }

  /** Stops draining; rows left are taken at the next start (here or on another instance). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.kick();
    await this.loop;
  }

  /** Settles the rows due now; the number settled. */
  async drain(): Promise<number> {
    let settled = 0;
    for (const row of await this.deps.store.dueSettlements(SETTLEMENT_DRAIN.batch)) {
      if (await this.settle(row)) settled += 1;
    }
    return settled;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const settled = await this.drain().catch((err) => {
        this.deps.log.warn({ err }, 'reading due settlements failed');
        return 0;
      });
      if (settled === SETTLEMENT_DRAIN.batch || this.stopped) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, SETTLEMENT_DRAIN.idleMs);
        timer.unref();
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  private async settle(row: SettlementRow): Promise<boolean> {
    const { store, users, log, metrics } = this.deps;
    try {
      const { settleCredits } = await users.call(
        SettleCreditsDocument,
        { key: row.hold_key, used: row.used, reason: row.reason },
        { actingFor: { id: row.user_id, role: 'USER' } },
      );
      // No such hold: a reply from before holds existed, or an account since erased. Nothing to give back.
      if (!settleCredits) log.warn({ replyId: row.reply_id }, 'no credit hold to settle');
      else metrics.credits.inc(row.used);
      await store.settled(row.hold_key);
      return true;
    } catch (err) {
      log.warn({ err, replyId: row.reply_id, attempts: row.attempts + 1 }, 'settling credits failed; retrying later');
      await store.settleLater(row.hold_key, retryDelayMs(row.attempts));
      return false;
    }
  }
}
