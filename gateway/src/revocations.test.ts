/**
 * The gateway's deny-list of revoked sessions (revocations.ts) with a stand-in users subgraph and
 * clock: what each poll asks for, how long a revoked session is refused, a failed poll, the
 * polling loop, and the verifier that refuses revoked sessions' tokens.
 */
import { describe, expect, it } from '@jest/globals';
import { UnsecuredJWT } from 'jose';
import type { TokenVerifier } from '@chat/shared/auth';
import { ErrorCode } from '@chat/shared/errors';
import { REVOCATION_MARGIN_MS, SESSION_ID_CLAIM } from '@chat/shared/session-revocation';
import { createRevocationList, POLL_OVERLAP_MS, refusingRevokedSessions, SESSION_REVOKED_MESSAGE, type RevokedSessionReport } from './revocations';

const TTL_SECONDS = 900;
const KEEP_MS = TTL_SECONDS * 1000 + REVOCATION_MARGIN_MS;
const START = Date.parse('2030-01-01T00:00:00Z');
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** A stand-in users subgraph: answers each poll with the sessions revoked since `since`, or fails while `down`. */
function fakeUsers() {
  const revocations: RevokedSessionReport[] = [];
  const asked: Date[] = [];
  const users = {
    down: false,
    asked,
    revoke(sessionId: string, at: number) {
      revocations.push({ sessionId, revokedAt: new Date(at).toISOString() });
    },
    fetchRevoked: async (since: Date): Promise<readonly RevokedSessionReport[]> => {
      asked.push(since);
      if (users.down) throw new Error('users subgraph unreachable');
      return revocations.filter((r) => Date.parse(String(r.revokedAt)) >= since.getTime());
    },
  };
  return users;
}

function setup(pollMs = 1_000) {
  const clock = { at: START, now: () => clock.at };
  const users = fakeUsers();
  const list = createRevocationList({ fetchRevoked: (since) => users.fetchRevoked(since), pollMs, accessTokenTtlSeconds: TTL_SECONDS, log: silent, now: clock.now });
  return { clock, users, list };
}

describe('createRevocationList', () => {
  it('asks first for every revocation still refused, then from a little before the previous poll', async () => {
    const { clock, users, list } = setup();
    expect(await list.poll()).toBe(true);
    clock.at += 1_000;
    await list.poll();
    expect(users.asked.map((d) => d.getTime())).toEqual([START - KEEP_MS, START - POLL_OVERLAP_MS]);
  });

  it('refuses a revoked session until every token it could have had has expired, then forgets it', async () => {
    const { clock, users, list } = setup();
    users.revoke('old', START - KEEP_MS - 1);
    users.revoke('s1', START - 1_000);
    await list.poll();
    expect(list.isRevoked('s1')).toBe(true);
    // Revoked longer ago than a token lives (and the margin): no token of it is left to refuse.
    expect(list.isRevoked('old')).toBe(false);
    expect(list.isRevoked('other')).toBe(false);
    expect(list.isRevoked(undefined)).toBe(false);

    clock.at = START - 1_000 + KEEP_MS - 1;
    expect(list.isRevoked('s1')).toBe(true);
    clock.at += 1;
    expect(list.isRevoked('s1')).toBe(false);
    await list.poll();
    expect(list.size).toBe(0);
  });

  it('tells listeners of each newly revoked session once', async () => {
    const { clock, users, list } = setup();
    const told: string[][] = [];
    const stop = list.onRevoked((ids) => told.push([...ids]));
    users.revoke('a', START - 10);
    await list.poll();
    clock.at += 1_000;
    users.revoke('b', clock.at - 10);
    // The overlap asks for 'a' again: it is not news.
    await list.poll();
    stop();
    users.revoke('c', clock.at);
    await list.poll();
    expect(told).toEqual([['a'], ['b']]);
    expect(list.isRevoked('c')).toBe(true);
  });

  it('keeps the list when a poll fails, and asks again from the same point until one succeeds', async () => {
    const { clock, users, list } = setup();
    users.revoke('kept', START - 10);
    await list.poll();
    const firstPoll = START;

    users.down = true;
    clock.at += 1_000;
    users.revoke('while-down', clock.at - 10);
    expect(await list.poll()).toBe(false);
    clock.at += 1_000;
    expect(await list.poll()).toBe(false);
    expect(list.isRevoked('kept')).toBe(true);
    expect(list.isRevoked('while-down')).toBe(false);

    users.down = false;
    clock.at += 1_000;
    expect(await list.poll()).toBe(true);
    expect(list.isRevoked('while-down')).toBe(true);
    expect(list.isRevoked('kept')).toBe(true);
    // Every poll after the first asked from before the last successful one: nothing in between is missed.
    expect(users.asked.slice(1).map((d) => d.getTime())).toEqual([1, 2, 3].map(() => firstPoll - POLL_OVERLAP_MS));
  });

  it('keeps the list when an answer cannot be read', async () => {
    const { users, list } = setup();
    users.revoke('kept', START - 10);
    await list.poll();
    users.fetchRevoked = async () => null as unknown as RevokedSessionReport[];
    expect(await list.poll()).toBe(false);
    expect(list.isRevoked('kept')).toBe(true);
  });

  it('counts a poll left unanswered as failed, so the next one can ask', async () => {
    const users = fakeUsers();
    let hang = true;
    const list = createRevocationList({
      fetchRevoked: (since) => (hang ? new Promise<never>(() => undefined) : users.fetchRevoked(since)),
      pollMs: 1_000,
      accessTokenTtlSeconds: TTL_SECONDS,
      log: silent,
      timeoutMs: 20,
    });
    expect(await list.poll()).toBe(false);
    hang = false;
    users.revoke('s', Date.now());
    expect(await list.poll()).toBe(true);
    expect(list.isRevoked('s')).toBe(true);
  });

  it('polls every pollMs between start and stop, retrying after failures', async () => {
    const users = fakeUsers();
    const list = createRevocationList({ fetchRevoked: users.fetchRevoked, pollMs: 10, accessTokenTtlSeconds: TTL_SECONDS, log: silent });
    users.down = true;
    list.start();
    await waitFor(() => users.asked.length >= 3);
    users.down = false;
    users.revoke('s', Date.now());
    await waitFor(() => list.isRevoked('s'));
    await list.stop();
    const polls = users.asked.length;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(users.asked.length).toBe(polls);
  });
});

/** Polls `check` every 5 ms for up to 5 s. */
async function waitFor(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('refusingRevokedSessions', () => {
  const token = (claims: Record<string, unknown>) => new UnsecuredJWT({ sub: 'u1', ...claims }).encode();
  const anyToken: TokenVerifier = {
    verify: async () => ({ id: 'u1', role: 'USER' }),
    fromAuthorization: async (header) => (header ? { id: 'u1', role: 'USER' } : null),
  };
  const verifier = refusingRevokedSessions(anyToken, { isRevoked: (sessionId) => sessionId === 'revoked' });

  it('refuses the tokens of revoked sessions as UNAUTHENTICATED, and only those', async () => {
    const refused = verifier.verify(token({ [SESSION_ID_CLAIM]: 'revoked' }));
    await expect(refused).rejects.toThrow(SESSION_REVOKED_MESSAGE);
    await expect(refused.catch((error) => error.extensions.code)).resolves.toBe(ErrorCode.UNAUTHENTICATED);
    await expect(verifier.fromAuthorization(`Bearer ${token({ [SESSION_ID_CLAIM]: 'revoked' })}`)).rejects.toThrow(SESSION_REVOKED_MESSAGE);

    await expect(verifier.verify(token({ [SESSION_ID_CLAIM]: 'live' }))).resolves.toEqual({ id: 'u1', role: 'USER' });
    await expect(verifier.fromAuthorization(`  Bearer  ${token({ [SESSION_ID_CLAIM]: 'live' })} `)).resolves.toEqual({ id: 'u1', role: 'USER' });
    // A token naming no session (signed before sessions were named) expires as it always did.
    await expect(verifier.verify(token({}))).resolves.toEqual({ id: 'u1', role: 'USER' });
    await expect(verifier.fromAuthorization(undefined)).resolves.toBeNull();
  });

  it('lets the inner verifier refuse first', async () => {
    const refusing = refusingRevokedSessions({ ...anyToken, verify: async () => Promise.reject(new Error('bad signature')) }, { isRevoked: () => false });
    await expect(refusing.verify(token({}))).rejects.toThrow('bad signature');
  });
});
