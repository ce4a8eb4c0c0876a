/**
 * Refresh-token theft detection under a race: a thief and the owner present the same refresh token
 * at the same moment. Whoever wins the rotation, the loser's replay must revoke the whole family,
 * the token the winner was just given included; it used to survive (the revocation ran before the
 * winner's new token was stored).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ENGINES, startTestSystem, type TestSystem } from '../support/system';
import { waitUntil } from '../chat/helpers';
import { errorCodes, START_TIMEOUT_MS } from '../e2e/helpers';

const REFRESH = /* GraphQL */ `mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken refreshToken } }`;
const ME = /* GraphQL */ `{ me { id } }`;
/** Races run at once, each between two refreshes of one token. */
const RACES = 15;
/** The longest a revoked session's access tokens may still pass the gateway here (it polls every second). */
const REFUSAL_BOUND_MS = 5_000;

describe.each(ENGINES)('refresh-token replay racing the rotation (%s)', (engine) => {
  let t: TestSystem;
  beforeAll(async () => {
    t = await startTestSystem(engine);
  }, START_TIMEOUT_MS);
  afterAll(() => t?.stop());

  it(`revokes the family in ${RACES} concurrent two-way races: neither the replayed token nor the one the winner got refreshes afterwards`, async () => {
    const sessions = await Promise.all(Array.from({ length: RACES }, () => t.signUp('Racer')));
    const races = await Promise.all(
      sessions.map(async (session) => {
        // The owner and the thief, at once, with the same token.
        const outcomes = await Promise.all([t.gql(REFRESH, { t: session.refreshToken }), t.gql(REFRESH, { t: session.refreshToken })]);
        return { session, outcomes };
      }),
    );
    const survivors: string[] = [];
    for (const { session, outcomes } of races) {
      const won = outcomes.filter((o) => !o.errors);
      // One rotation wins; the other presentation is a replay and is refused.
      expect(won).toHaveLength(1);
      expect(outcomes.flatMap(errorCodes)).toEqual(['UNAUTHENTICATED']);
      const issued: string = won[0]!.data.refreshSession.refreshToken;
      for (const token of [issued, session.refreshToken]) {
        const again = await t.gql(REFRESH, { t: token });
        if (!again.errors) survivors.push(token === issued ? 'issued' : 'replayed');
        else expect(errorCodes(again)).toEqual(['UNAUTHENTICATED']);
      }
    }
    expect(survivors).toEqual([]);
    // The access tokens the winners got die with their families: the gateway refuses them within seconds (revocation.test.ts).
    const accessTokens = races.map(({ outcomes }) => outcomes.find((o) => !o.errors)!.data.refreshSession.accessToken as string);
    await waitUntil(
      async () => (await Promise.all(accessTokens.map((token) => t.gql(ME, {}, token)))).every((res) => errorCodes(res).includes('UNAUTHENTICATED')),
      REFUSAL_BOUND_MS,
      'the gateway to refuse the access tokens of the revoked families',
    );
  });

  it('revokes the family when the replay is sent straight to the users subgraph during the rotation, too', async () => {
    // Straight to the users subgraph, as a second gateway (or one whose key leaked) would send it.
    const users = (refreshToken: string) => t.subgraphGql('users', REFRESH, { t: refreshToken });
    const sessions = await Promise.all(Array.from({ length: RACES }, () => t.signUp('Direct')));
    const issued = await Promise.all(
      sessions.map(async (session) => {
        const [viaGateway, direct] = await Promise.all([t.gql(REFRESH, { t: session.refreshToken }), users(session.refreshToken)]);
        return [viaGateway, direct].flatMap((o) => (o.errors ? [] : [o.data.refreshSession.refreshToken as string]));
      }),
    );
    expect(issued.map((tokens) => tokens.length)).toEqual(sessions.map(() => 1));
    const refreshed = await Promise.all(issued.flat().map((token) => users(token)));
    expect(refreshed.map(errorCodes)).toEqual(refreshed.map(() => ['UNAUTHENTICATED']));
  });
});
