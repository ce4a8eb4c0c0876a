/**
 * The scheduled refill's timer (CREDITS_REFILL_AMOUNT every CREDITS_REFILL_INTERVAL_MS, as
 * LibreChat's auto-refill): each users instance looks often whether the current interval was
 * refilled, and the ledger lets exactly one of them do it (CreditLedger.refill).
 */
import type { Config } from '@chat/shared/config';
import type { Logger } from '@chat/shared/log';
import type { CreditLedger } from './ledger';

/** How often an instance looks whether the current interval is refilled (at most; a shorter interval is looked at each time). */
export const REFILL_CHECK_MS = 60_000;

/** The number of the interval `now` falls in: intervals count from the epoch, so every instance agrees. */
export const refillIntervalOf = (now: number, intervalMs: number): number => Math.floor(now / intervalMs);

/** A running refill schedule. */
export interface RefillSchedule {
  /** Refills the current interval unless some instance did; how many users it refilled, or undefined. */
  runOnce(now?: number): Promise<number | undefined>;
  /** Stops the timer and waits for a refill under way. */
  stop(): Promise<void>;
}

/** Starts the refill's timer (unref'd: it never keeps a process alive); undefined when the refill is off. */
export function startRefillSchedule(config: Pick<Config, 'credits'>, ledger: CreditLedger, log: Logger): RefillSchedule | undefined {
  const { refillAmount: amount, refillIntervalMs: intervalMs } = config.credits;
  if (amount <= 0) return undefined;
  const runOnce = async (now = Date.now()) => {
    const refilled = await ledger.refill({ intervalMs, intervalNumber: refillIntervalOf(now, intervalMs), amount });
    if (refilled !== undefined) log.info({ refilled, amount, intervalMs }, 'credits refilled');
    return refilled;
  };
  let running: Promise<unknown> = Promise.resolve();
  const tick = () => {
    running = runOnce().catch((err) => log.warn({ err }, 'the scheduled credits refill failed'));
  };
  // The interval under way when an instance starts is refilled at once, unless another instance did.
  tick();
  const timer = setInterval(tick, Math.min(intervalMs, REFILL_CHECK_MS));
  timer.unref();
  return {
    runOnce,
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
