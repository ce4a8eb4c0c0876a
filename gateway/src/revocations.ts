/**
 * The gateway's deny-list of revoked sessions.
 *
 * An access token is believed on its signature and expiry alone, so the token of a session that
 * ended (logout, a replayed refresh token; a password change or logoutEverywhere later) would keep
 * working until it expires, up to ACCESS_TOKEN_TTL_SECONDS. Each token names its session (`sid`,
 * @chat/shared/session-revocation), and the users subgraph records when a session is revoked. The
 * gateway asks it every REVOCATION_POLL_MS for the sessions revoked lately (`revokedSessions`),
 * keeps each until every token it could have had has expired, and refuses those tokens: over HTTP
 * and at a socket's connection_init (`refusingRevokedSessions`), and on sockets already open,
 * which the subscription server closes with 4403 when told (`onRevoked`).
 *
 * Polling rather than a message on Redis: the users database already is the record of revocations
 * (nothing else to write or keep in step); it works without Redis, across processes and gateway
 * instances alike; and a gateway that starts, or could not reach the users subgraph for a while,
 * catches up by asking for everything it missed, which a missed message cannot be. Each gateway
 * runs one small indexed query a poll (with N gateways, N a second by default).
 */
import type { TokenVerifier, Viewer } from '@chat/shared/auth';
import { unauthenticated } from '@chat/shared/errors';
import type { Logger } from '@chat/shared/log';
import type { PeerClient } from '@chat/shared/peer-client';
import { refusalPeriodMs, sessionIdOf } from '@chat/shared/session-revocation';
import { RevokedSessionsDocument } from '../generated/peers/users';

/** A revoked session as the users subgraph reports it (dates arrive as ISO strings over the wire). */
export interface RevokedSessionReport {
  sessionId: string;
  revokedAt: string | Date;
}

/** Asks the users subgraph for the sessions revoked at or after `since`. */
export type FetchRevokedSessions = (since: Date) => Promise<readonly RevokedSessionReport[]>;

/** The users subgraph's revokedSessions, asked by the gateway for itself (acting for no user), through `users`. */
export function revokedSessionsFrom(users: PeerClient): FetchRevokedSessions {
  return async (since) => (await users.call(RevokedSessionsDocument, { since: since.toISOString() }, { actingFor: null })).revokedSessions;
}

/**
 * Each poll asks again for what was revoked this long before the previous one began: a revocation
 * is stamped before its transaction commits (it may wait for a rotation holding the family), and
 * the users instances' clocks differ a little from the gateway's.
 */
export const POLL_OVERLAP_MS = 30_000;

/**
 * A poll not answered within this long counts as failed, so a users subgraph that hangs delays
 * the list by this much, not by the HTTP client's minutes; the next poll asks again.
 */
export const POLL_TIMEOUT_MS = 10_000;

/** What an access token of a revoked session is refused with (UNAUTHENTICATED; 401 over HTTP). */
export const SESSION_REVOKED_MESSAGE = 'The session has ended; sign in again.';

/** The close reason of a socket whose session is revoked (code 4403). */
export const SESSION_REVOKED_REASON = 'Forbidden: the session has ended';

/** What the subscription server needs of the deny-list: the check, and word of new revocations. */
export interface SessionRevocations {
  /** Whether `sessionId` is revoked (a token naming no session never is). */
  isRevoked(sessionId: string | undefined): boolean;
  /** Calls `listener` with the sessions each poll newly finds revoked; returns the function that stops it. */
  onRevoked(listener: (sessionIds: ReadonlySet<string>) => void): () => void;
}

/** The deny-list, kept up to date by polling between `start()` and `stop()`. */
export interface RevocationList extends SessionRevocations {
  /** Polls once now; false when the users subgraph did not answer (the list is kept as it was). */
  poll(): Promise<boolean>;
  /** Polls at once, then every `pollMs` after each poll ends. */
  start(): void;
  /** Stops polling, waiting for a poll under way. */
  stop(): Promise<void>;
  /** How many sessions are refused now. */
  readonly size: number;
}

/** How the deny-list learns of revocations, and for how long it keeps them. */
export interface RevocationListOptions {
  fetchRevoked: FetchRevokedSessions;
  /** REVOCATION_POLL_MS: the time between the end of one poll and the start of the next. */
  pollMs: number;
  /** ACCESS_TOKEN_TTL_SECONDS: a revoked session is kept until the tokens it could have had expire. */
  accessTokenTtlSeconds: number;
  log: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** How long a poll may take (default POLL_TIMEOUT_MS). */
  timeoutMs?: number;
  now?: () => number;
}

/** A deny-list of revoked sessions fed by `options.fetchRevoked` (see the module's comment). */
export function createRevocationList(options: RevocationListOptions): RevocationList {
  const now = options.now ?? Date.now;
  const keepMs = refusalPeriodMs(options.accessTokenTtlSeconds);
  /** Revoked session ids, each with when its refusal ends (ms since the epoch). */
  const revoked = new Map<string, number>();
  const listeners = new Set<(sessionIds: ReadonlySet<string>) => void>();
  /** When the last successful poll began: the next asks from a little before it. */
  let lastPolledAt: number | undefined;
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;
  let polling: Promise<boolean> | undefined;
  let running = false;

  const forgetExpired = (at: number) => {
    for (const [sessionId, until] of revoked) if (until <= at) revoked.delete(sessionId);
  };

  const notify = (sessionIds: ReadonlySet<string>) => {
    for (const listener of listeners) {
      try {
        listener(sessionIds);
      } catch (error) {
        options.log.error({ err: error }, 'a revoked-session listener failed');
      }
    }
  };

  const pollOnce = async (): Promise<boolean> => {
    const startedAt = now();
    // A gateway that just started (or never got an answer) asks for every revocation still refused.
    const oldest = startedAt - keepMs;
    const since = lastPolledAt === undefined ? oldest : Math.max(oldest, lastPolledAt - POLL_OVERLAP_MS);
    let reports: readonly RevokedSessionReport[];
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeoutMs = options.timeoutMs ?? POLL_TIMEOUT_MS;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      });
      reports = await Promise.race([options.fetchRevoked(new Date(since)), timedOut]);
    } catch (error) {
      // Keep refusing what is known, and ask again (from the same point) at the next poll.
      failures += 1;
      if (failures === 1) options.log.warn({ err: error }, 'revoked sessions could not be polled; keeping the known ones and retrying');
      return false;
    } finally {
      clearTimeout(timer);
    }
    if (failures > 0) options.log.info({ failedPolls: failures }, 'revoked sessions polled again');
    failures = 0;
    lastPolledAt = startedAt;
    const at = now();
    const added = new Set<string>();
    for (const { sessionId, revokedAt } of reports) {
      const until = new Date(revokedAt).getTime() + keepMs;
      if (!(until > at)) continue;
      if (!revoked.has(sessionId)) added.add(sessionId);
      revoked.set(sessionId, Math.max(until, revoked.get(sessionId) ?? 0));
    }
    forgetExpired(at);
    if (added.size > 0) notify(added);
    return true;
  };

  const poll = (): Promise<boolean> => {
    // One poll at a time: a slow answer delays the next instead of piling up.
    polling ??= pollOnce()
      .catch((error: unknown) => {
        // An answer that is not what was asked for: a bug, not the users subgraph being away.
        options.log.error({ err: error }, 'revoked sessions could not be read');
        return false;
      })
      .finally(() => {
        polling = undefined;
      });
    return polling;
  };

  const schedule = () => {
    if (!running) return;
    timer = setTimeout(() => void poll().finally(schedule), options.pollMs);
    // The gateway's server keeps the process alive; the poll alone must not.
    timer.unref();
  };

  return {
    isRevoked(sessionId) {
      if (sessionId === undefined) return false;
      const until = revoked.get(sessionId);
      return until !== undefined && until > now();
    },
    onRevoked(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    poll,
    start() {
      if (running) return;
      running = true;
      void poll().finally(schedule);
    },
    async stop() {
      running = false;
      clearTimeout(timer);
      await polling;
    },
    get size() {
      forgetExpired(now());
      return revoked.size;
    },
  };
}

/** The session an `Authorization: Bearer <token>` header's token names (the header verified already). */
export function sessionOfAuthorization(authorization: string | undefined): string | undefined {
  const token = authorization?.trim().split(/\s+/)[1];
  return token ? sessionIdOf(token) : undefined;
}

/**
 * `verifier`, refusing also the tokens of revoked sessions (UNAUTHENTICATED, SESSION_REVOKED_MESSAGE):
 * the gateway checks HTTP requests and connection_init payloads with it.
 */
export function refusingRevokedSessions(verifier: TokenVerifier, revocations: Pick<SessionRevocations, 'isRevoked'>): TokenVerifier {
  const unlessRevoked = (sessionId: string | undefined, viewer: Viewer): Viewer => {
    if (revocations.isRevoked(sessionId)) throw unauthenticated(SESSION_REVOKED_MESSAGE);
    return viewer;
  };
  return {
    verify: async (token) => unlessRevoked(sessionIdOf(token), await verifier.verify(token)),
    async fromAuthorization(header) {
      const viewer = await verifier.fromAuthorization(header);
      return viewer && unlessRevoked(sessionOfAuthorization(header ?? undefined), viewer);
    },
  };
}
