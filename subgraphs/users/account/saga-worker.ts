/**
 * Runs deleteAccount's sagas to the end: each remote step is the peer's idempotent `eraseUserData`,
 * called as the users service acting for the user being erased, and retried with exponential
 * backoff until it succeeds; once all are done, the users subgraph's own step erases the account.
 * Steps are claimed with a lease in the database, so any number of users instances may run a
 * worker, and one that starts (or restarts) picks up every erasure left pending.
 * The steps' table is both the record and the queue (not the generation jobs' Redis Stream): an
 * erasure must be durable without Redis too, and its state is there to read in one place.
 */
import type { Logger } from '@chat/shared/log';
import type { PeerClient } from '@chat/shared/peer-client';
import type { RateLimiter } from '@chat/shared/rate-limit';
import { EraseUserDataDocument as EraseCharacters } from '../generated/peers/characters';
import { EraseUserDataDocument as EraseConversations } from '../generated/peers/conversations';
import { EraseUserDataDocument as EraseMessages } from '../generated/peers/messages';
import { USERS_ERASURE, rateLimitKeys } from '../erasure';
import type { SessionStore } from '../auth/sessions';
import { type ErasureStepRow, type RemoteStep, type SagaStore } from './saga-store';

/** How the worker paces itself. */
export const ERASURE_TIMING = {
  /** How often it looks for steps due (a new erasure also wakes it at once). */
  pollMs: 5_000,
  /** The first retry's wait; each later one doubles it, up to maxRetryMs. */
  baseRetryMs: 1_000,
  maxRetryMs: 5 * 60_000,
  /** A claimed step is another worker's to try after this, should this one die mid-call. */
  leaseMs: 60_000,
  /** A peer not answering within this long counts as a failed attempt. */
  callTimeoutMs: 30_000,
  /** Steps claimed per pass. */
  batch: 20,
} as const;

/** The wait before the next attempt of a step tried `attempts` times. */
export function retryDelayMs(attempts: number): number {
  return Math.min(ERASURE_TIMING.maxRetryMs, ERASURE_TIMING.baseRetryMs * 2 ** Math.max(0, attempts - 1));
}

/** The peers each remote step calls. */
export type ErasurePeers = Record<RemoteStep, PeerClient>;

/** What the worker works with. */
export interface ErasureWorkerDeps {
  saga: SagaStore;
  sessions: SessionStore;
  peers: ErasurePeers;
  rateLimiter: RateLimiter;
  log: Logger;
  /** How long a revoked session is still refused (ended sessions are forgotten after it). */
  refusalPeriodMs: number;
}

/** Calls one peer's eraseUserData for the user, failing after callTimeoutMs. */
async function callStep(peers: ErasurePeers, step: ErasureStepRow): Promise<void> {
  const actingFor = { id: step.user_id, role: 'USER' as const };
  const variables = { userId: step.user_id };
  const call =
    step.step === 'messages'
      ? peers.messages.call(EraseMessages, variables, { actingFor })
      : step.step === 'conversations'
        ? peers.conversations.call(EraseConversations, variables, { actingFor })
        : peers.characters.call(EraseCharacters, variables, { actingFor });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ERASURE_TIMING.callTimeoutMs} ms`)), ERASURE_TIMING.callTimeoutMs);
  });
  try {
    await Promise.race([call, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The saga's worker: start() at start-up (resuming what is pending), kick() when an erasure is recorded. */
export class ErasureWorker {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(private readonly deps: ErasureWorkerDeps) {}

  /** Runs a pass now, then every pollMs. */
  start(): void {
    this.kick();
    this.timer = setInterval(() => this.kick(), ERASURE_TIMING.pollMs);
    this.timer.unref();
  }

  /** Runs a pass as soon as the one under way (if any) ends. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pass()
      .catch((err) => this.deps.log.warn({ err }, 'an erasure pass failed; the next one retries'))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Stops polling and waits for the pass under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  /** One pass: every remote step due, then the last step of every erasure whose remote steps are done. */
  private async pass(): Promise<void> {
    const { saga, peers, log } = this.deps;
    const steps = await saga.claimDue(new Date(), ERASURE_TIMING.leaseMs, ERASURE_TIMING.batch);
    await Promise.all(
      steps.map(async (step) => {
        try {
          await callStep(peers, step);
          await saga.markDone(step.user_id, step.step);
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          log.warn({ step: step.step, attempts: step.attempts, err: message }, 'an erasure step failed; it will be retried');
          await saga.markFailed(step.user_id, step.step, new Date(Date.now() + retryDelayMs(step.attempts)), message.slice(0, 500));
        }
      }),
    );
    for (const userId of await saga.readyToFinish(ERASURE_TIMING.batch)) {
      const email = await saga.finish(userId, USERS_ERASURE);
      if (email !== undefined) {
        await this.deps.rateLimiter.forget(rateLimitKeys(userId, email));
        log.info({ erasure: 'finished' }, 'an account was erased');
      }
    }
    await this.deps.sessions.sweepEnded(new Date(Date.now() - this.deps.refusalPeriodMs));
  }
}
