/**
 * Circuit breaker for one provider: closed → open after N consecutive failures → half-open after a cool-down,
 * where exactly one trial call decides between closed (success) and open again (failure).
 */

/** Breaker states as shown to operators. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** Options of {@link createCircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit (at least 1). */
  failureThreshold: number;
  /** Time the circuit stays open before one trial call is let through. */
  resetMs: number;
  /** Clock, injectable for tests. */
  now?: () => number;
}

/** Why a call was refused: the circuit is open, or half-open with its one trial call already running. */
export interface BreakerRejection {
  state: Exclude<BreakerState, 'closed'>;
  /** Milliseconds until a trial call will be allowed (0 while a trial is running). */
  retryInMs: number;
  consecutiveFailures: number;
}

/** Permission for one call; report its outcome once (later reports are ignored). */
export interface BreakerPermit {
  /** The call succeeded: closes the circuit and resets the failure count. */
  success(): void;
  /** The call failed: counts it; opens the circuit at the threshold, or at once when this was the half-open trial. */
  failure(): void;
  /** The call ended without saying anything about the provider (e.g. aborted by the caller). */
  release(): void;
}

/** Outcome of {@link CircuitBreaker.tryAcquire}. */
export type BreakerDecision = { permit: BreakerPermit; rejection?: undefined } | { permit?: undefined; rejection: BreakerRejection };

/** A circuit breaker guarding one provider. */
export interface CircuitBreaker {
  /** Current state; an open circuit whose cool-down has passed reports `half-open`. */
  state(): BreakerState;
  /** Asks to make a call. */
  tryAcquire(): BreakerDecision;
  /** Consecutive failures so far. */
  consecutiveFailures(): number;
}

/** Creates a closed circuit breaker. */
export function createCircuitBreaker(options: CircuitBreakerOptions): CircuitBreaker {
  const now = options.now ?? Date.now;
  const threshold = Math.max(1, options.failureThreshold);
  let failures = 0;
  let openedAt: number | null = null;
  let trialRunning = false;

  const state = (): BreakerState => {
    if (openedAt === null) return 'closed';
    return now() - openedAt < options.resetMs ? 'open' : 'half-open';
  };

  const permit = (isTrial: boolean): BreakerPermit => {
    let settled = false;
    const settle = (apply: () => void) => {
      if (settled) return;
      settled = true;
      if (isTrial) trialRunning = false;
      apply();
    };
    return {
      success: () =>
        settle(() => {
          failures = 0;
          openedAt = null;
        }),
      failure: () =>
        settle(() => {
          failures += 1;
          if (isTrial || failures >= threshold) openedAt = now();
        }),
      release: () => settle(() => undefined),
    };
  };

  return {
    state,
    tryAcquire() {
      const current = state();
      if (current === 'closed') return { permit: permit(false) };
      if (current === 'half-open' && !trialRunning) {
        trialRunning = true;
        return { permit: permit(true) };
      }
      const retryInMs = current === 'open' ? Math.max(0, options.resetMs - (now() - (openedAt ?? 0))) : 0;
      return { rejection: { state: current, retryInMs, consecutiveFailures: failures } };
    },
    consecutiveFailures: () => failures,
  };
}
