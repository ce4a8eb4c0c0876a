/**
 * Issue 14, items 6 and 4: subgraphs believed anyone who reached them. A user's own token, sent
 * straight to a subgraph, could call internal mutations (an owner set their conversation's
 * messageCount and totalTokens to 2,000,000,000 through recordSession), pick the address the
 * sign-in throttles count (X-Forwarded-For, believed unconditionally), and hold the messages
 * subgraph's socket past every limit the gateway keeps. Now every call between services is signed
 * by the calling service, subgraphs refuse any other, internal mutations answer only the peer that
 * makes them, acting for the user it vouches for, and the socket limits and token expiry hold at the
 * subgraph too. Everything here is tried through the real system, over real HTTP and sockets.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { importJWK, SignJWT } from 'jose';
import { startGateway } from '@chat/gateway';
import { JWKS_PATH } from '@chat/shared/auth';
import { SUBGRAPH_NAMES, type SubgraphName } from '@chat/shared/config';
import { INTERNAL_ERROR_MESSAGE } from '@chat/shared/error-masking';
import { GATEWAY_ONLY_MESSAGE } from '@chat/shared/identity';
import { METRICS_PATH } from '@chat/shared/metrics';
import { createServiceKeyring, generateServiceKeySet, SERVICE_TOKEN_ALG, SERVICE_TOKEN_HEADER, SERVICE_TOKEN_PARAM } from '@chat/shared/service-auth';
import { createCharacter, errorCodes, expectError, expectOk, START_TIMEOUT_MS, startConversation } from '../e2e/helpers';
import { startTestSystem, uniqueName, type GqlResponse, type TestSystem } from '../support/system';
import { collect, openRawSocket, wsClient } from '../support/ws';

const STATISTICS = /* GraphQL */ `query($id: ID!) { conversation(id: $id) { lastActivityAt statistics { messageCount totalTokens sessionCount totalSessionSeconds } } }`;
const RECORD_SESSION = /* GraphQL */ `mutation($input: SessionRecordInput!) { recordSession(input: $input) }`;
const RECORD_ACTIVITY = /* GraphQL */ `mutation($id: ID!) { recordActivity(conversationId: $id) }`;
const RECORD_USE = /* GraphQL */ `mutation($id: ID!) { recordCharacterUse(characterId: $id) { id } }`;
const RECORD_START = /* GraphQL */ `mutation($id: ID!, $user: ID, $greeting: String) { recordConversationStart(conversationId: $id, userId: $user, greeting: $greeting) { id content } }`;
const LOGIN = /* GraphQL */ `mutation($i: LoginInput!) { login(input: $i) { accessToken } }`;
const EVENTS = /* GraphQL */ `subscription($id: ID!) { conversationEvents(conversationId: $id) { kind } }`;
/** Sign-in attempts one address may make in this system (the other sign-in limits are out of the way). */
const PER_ADDRESS = 3;

/** POSTs GraphQL to `url` with exactly these headers. */
async function post(url: string, query: string, variables: Record<string, unknown>, headers: Record<string, string>): Promise<GqlResponse> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query, variables }) });
  const body = (await response.json()) as { data?: any; errors?: any };
  return { status: response.status, data: body.data, errors: body.errors };
}

/** Refused as a request no known service signed: 401, UNAUTHENTICATED, saying where requests must come from. */
function expectUnsigned(res: GqlResponse): void {
  expect([res.status, errorCodes(res)]).toEqual([401, ['UNAUTHENTICATED']]);
  expect(res.errors![0]!.message).toContain(GATEWAY_ONLY_MESSAGE);
  expect(res.data ?? null).toBeNull();
}

describe('service identity at the subgraphs (pglite, behind a trusted proxy)', () => {
  let t: TestSystem;
  let alice: { token: string; id: string; email: string };
  let bob: { token: string; id: string; email: string };
  let characterId: string;
  let conversationId: string;
  const url = (name: SubgraphName) => t.system.subgraphs[name].url;
  const forAlice = () => ({ id: alice.id, role: 'USER' as const });

  beforeAll(async () => {
    t = await startTestSystem('pglite', {
      TRUST_PROXY: 'true',
      LOGIN_ATTEMPTS_PER_ADDRESS: String(PER_ADDRESS),
      LOGIN_ATTEMPTS_PER_ADDRESS_AND_ACCOUNT: '1000',
      LOGIN_ATTEMPTS_PER_ACCOUNT: '1000',
    });
    [alice, bob] = await Promise.all([t.signUp('Alice'), t.signUp('Bob')]);
    characterId = (await createCharacter(t, alice.token, { name: 'Sentinel', greeting: 'Halt.', visibility: 'PUBLIC' })).id;
    conversationId = (await startConversation(t, alice.token, characterId)).id;
  }, START_TIMEOUT_MS);
  afterAll(() => t?.stop());

  it("refuses every subgraph's GraphQL to a request no service signed, a valid user token notwithstanding; health, readiness, metrics and the JWKS stay open", async () => {
    for (const name of SUBGRAPH_NAMES) {
      const res = await post(url(name), '{ __typename }', {}, { authorization: `Bearer ${alice.token}` });
      expectUnsigned(res);
      // The same request signed by the gateway is answered: the signature is what was missing.
      expect(expectOk(await t.subgraphGql(name, '{ __typename }', {}, { token: alice.token })).__typename).toBe('Query');
      for (const path of ['/health', '/ready', METRICS_PATH]) expect([name, path, (await fetch(new URL(path, url(name)))).status]).toEqual([name, path, 200]);
    }
    const me = await post(url('users'), '{ me { id email credits } }', {}, { authorization: `Bearer ${alice.token}` });
    expectUnsigned(me);
    expect(JSON.stringify(me)).not.toContain(alice.email);
    expect((await fetch(new URL(JWKS_PATH, url('users')))).status).toBe(200);
  });

  it('refuses service tokens of another deployment, expired ones, ones for another subgraph, and a key claiming another service', async () => {
    const now = Math.floor(Date.now() / 1000);
    const gatewayKey = await importJWK(t.serviceKeys.privateKeys.gateway!, SERVICE_TOKEN_ALG);
    const messagesKey = await importJWK(t.serviceKeys.privateKeys.messages!, SERVICE_TOKEN_ALG);
    const forged = (key: typeof gatewayKey, kid: string, issuer: string, issuedAt: number, expires: number) =>
      new SignJWT({}).setProtectedHeader({ alg: SERVICE_TOKEN_ALG, kid }).setIssuer(issuer).setAudience('users').setIssuedAt(issuedAt).setExpirationTime(expires).sign(key);
    const tokens = {
      'another deployment': await createServiceKeyring(generateServiceKeySet()).signer('gateway').token('users'),
      expired: await forged(gatewayKey, 'gateway', 'gateway', now - 90, now - 30),
      'for another subgraph': await t.keyring.signer('gateway').token('characters'),
      "the messages key claiming to be the gateway's": await forged(messagesKey, 'gateway', 'gateway', now, now + 30),
      'not a token': 'not.a.token',
    };
    for (const [what, token] of Object.entries(tokens)) {
      const res = await post(url('users'), '{ me { id } }', {}, { authorization: `Bearer ${alice.token}`, [SERVICE_TOKEN_HEADER]: token });
      expect([what, res.status, errorCodes(res)]).toEqual([what, 401, ['UNAUTHENTICATED']]);
    }
    // A valid one, signed here the same way, is taken.
    const valid = await forged(gatewayKey, 'gateway', 'gateway', now, now + 30);
    expect(expectOk(await post(url('users'), '{ me { id } }', {}, { authorization: `Bearer ${alice.token}`, [SERVICE_TOKEN_HEADER]: valid })).me.id).toBe(alice.id);
  });

  it("gives a gateway holding another deployment's key nothing from the subgraphs; its clients get a masked INTERNAL_SERVER_ERROR", async () => {
    const stranger = await startGateway(t.config, createServiceKeyring(generateServiceKeySet()), { port: 0 });
    try {
      const res = await post(stranger.url, '{ me { id email } characters(first: 1) { edges { cursor } } }', {}, { authorization: `Bearer ${alice.token}` });
      expect(res.data?.me ?? null).toBeNull();
      expect(new Set(res.errors?.map((e) => `${e.extensions?.code} ${e.message}`))).toEqual(new Set([`INTERNAL_SERVER_ERROR ${INTERNAL_ERROR_MESSAGE}`]));
      expect(JSON.stringify(res)).not.toMatch(/127\.0\.0\.1|through the gateway|Unauthorized/);
    } finally {
      await stranger.close();
    }
  });

  it("refuses recordSession to its owner's own token however sent, and to any service but messages: no 2,000,000,000 statistics", async () => {
    const before = expectOk(await t.gql(STATISTICS, { id: conversationId }, alice.token)).conversation;
    const endedAt = new Date();
    const input = { conversationId, startedAt: new Date(endedAt.getTime() - 60_000).toISOString(), endedAt: endedAt.toISOString(), messageCount: 2_000_000_000, totalTokens: 2_000_000_000 };
    // The reported attack: the owner's token straight at the conversations subgraph.
    expectUnsigned(await post(url('conversations'), RECORD_SESSION, { input }, { authorization: `Bearer ${alice.token}` }));
    // Their token behind the gateway's signature (the gateway forwards users' operations; internal ones are not its to make).
    expectError(await t.subgraphGql('conversations', RECORD_SESSION, { input }, { token: alice.token }), 'FORBIDDEN');
    // Another service acting for the owner, and messages acting for nobody.
    expectError(await t.subgraphGql('conversations', RECORD_SESSION, { input }, { as: 'characters', actingFor: forAlice() }), 'FORBIDDEN');
    expectError(await t.subgraphGql('conversations', RECORD_SESSION, { input }, { as: 'messages' }), 'FORBIDDEN');
    expect(expectOk(await t.gql(STATISTICS, { id: conversationId }, alice.token)).conversation).toEqual(before);
    // The messages service acting for someone else is held to the owner check as before.
    expectError(await t.subgraphGql('conversations', RECORD_SESSION, { input }, { as: 'messages', actingFor: { id: bob.id, role: 'USER' } }), 'NOT_FOUND');
    expect(expectOk(await t.gql(STATISTICS, { id: conversationId }, alice.token)).conversation).toEqual(before);
  });

  it('refuses recordActivity to anyone but the messages service', async () => {
    const before = expectOk(await t.gql(STATISTICS, { id: conversationId }, alice.token)).conversation.lastActivityAt;
    await new Promise((resolve) => setTimeout(resolve, 20)); // a touch now would show as a later instant
    expectUnsigned(await post(url('conversations'), RECORD_ACTIVITY, { id: conversationId }, { authorization: `Bearer ${alice.token}` }));
    expectError(await t.subgraphGql('conversations', RECORD_ACTIVITY, { id: conversationId }, { token: alice.token }), 'FORBIDDEN');
    expectError(await t.subgraphGql('conversations', RECORD_ACTIVITY, { id: conversationId }, { as: 'users', actingFor: forAlice() }), 'FORBIDDEN');
    expect(expectOk(await t.gql(STATISTICS, { id: conversationId }, alice.token)).conversation.lastActivityAt).toBe(before);
  });

  it('refuses recordCharacterUse to anyone but the conversations service: no way into a character\'s audience', async () => {
    const character = (await createCharacter(t, alice.token, { name: 'Fleeting', visibility: 'PUBLIC' })).id;
    // Bob tries to join its audience (those who keep seeing it once it is private) without a conversation.
    expectUnsigned(await post(url('characters'), RECORD_USE, { id: character }, { authorization: `Bearer ${bob.token}` }));
    expectError(await t.subgraphGql('characters', RECORD_USE, { id: character }, { token: bob.token }), 'FORBIDDEN');
    expectError(await t.subgraphGql('characters', RECORD_USE, { id: character }, { as: 'messages', actingFor: { id: bob.id, role: 'USER' } }), 'FORBIDDEN');
    expectOk(await t.gql(`mutation($id: ID!) { updateCharacter(id: $id, input: { visibility: PRIVATE }) { id } }`, { id: character }, alice.token));
    expect(expectOk(await t.gql(`query($id: ID!) { character(id: $id) { id } }`, { id: character }, bob.token)).character).toBeNull();
  });

  it('refuses recordConversationStart to anyone but the conversations service', async () => {
    const attack = { id: conversationId, user: alice.id, greeting: 'Injected greeting.' };
    expectUnsigned(await post(url('messages'), RECORD_START, attack, { authorization: `Bearer ${alice.token}` }));
    expectError(await t.subgraphGql('messages', RECORD_START, attack, { token: alice.token }), 'FORBIDDEN');
    expectError(await t.subgraphGql('messages', RECORD_START, attack, { as: 'characters', actingFor: forAlice() }), 'FORBIDDEN');
    const read = expectOk(await t.gql(`query($id: ID!) { conversation(id: $id) { messages { edges { node { content } } } } }`, { id: conversationId }, alice.token));
    expect(read.conversation.messages.edges.map((e: any) => e.node.content)).toEqual(['Halt.']);
  });

  it('refuses the credit mutations (holdCredits, settleCredits) to anyone but the messages service: no credits held or given back by hand', async () => {
    const balance = async () => expectOk(await t.gql(`{ me { credits } }`, {}, alice.token)).me.credits as number;
    const before = await balance();
    const hold = { i: { key: `hand-${uniqueName()}`, replyId: randomUUID(), amount: 1, reason: 'by hand' } };
    const HOLD = `mutation($i: CreditHoldInput!) { holdCredits(input: $i) { held balance } }`;
    const SETTLE = `mutation($k: String!) { settleCredits(key: $k, used: 0, reason: "by hand") }`;
    expectUnsigned(await post(url('users'), HOLD, hold, { authorization: `Bearer ${alice.token}` }));
    for (const [query, variables] of [[HOLD, hold], [SETTLE, { k: hold.i.key }]] as const) {
      expectError(await t.subgraphGql('users', query, variables, { token: alice.token }), 'FORBIDDEN');
      expectError(await t.subgraphGql('users', query, variables, { as: 'conversations', actingFor: forAlice() }), 'FORBIDDEN');
    }
    expect(await balance()).toBe(before);
  });

  it('refuses sign-ins sent straight to the users subgraph, whatever X-Forwarded-For they claim, and believes no address but the gateway\'s', async () => {
    const attempt = (n: number, headers: Record<string, string>) =>
      post(url('users'), LOGIN, { i: { email: `${uniqueName('nobody')}@example.com`, password: 'guess' } }, { 'x-forwarded-for': `203.0.113.${n}`, ...headers });
    for (let n = 0; n < PER_ADDRESS + 3; n += 1) expectUnsigned(await attempt(n, {}));
    // Even a service other than the gateway is not believed about the client's address: each claims a new one, all count as one.
    const outcomes: string[][] = [];
    for (let n = 0; n < PER_ADDRESS + 1; n += 1) {
      outcomes.push(errorCodes(await attempt(n, { [SERVICE_TOKEN_HEADER]: await t.keyring.signer('messages').token('users') })));
    }
    expect(outcomes).toEqual([...Array(PER_ADDRESS).fill(['UNAUTHENTICATED']), ['RATE_LIMITED']]);
  });

  it('counts sign-ins through the gateway at the address its proxy saw, not at one the client put in X-Forwarded-For', async () => {
    const through = (forwardedFor: string) =>
      post(t.gatewayUrl, LOGIN, { i: { email: `${uniqueName('nobody')}@example.com`, password: 'guess' } }, { 'x-forwarded-for': forwardedFor });
    // The client writes a new first hop each time; the proxy appends the address it saw.
    const outcomes: string[][] = [];
    for (let n = 0; n < PER_ADDRESS + 1; n += 1) outcomes.push(errorCodes(await through(`192.0.2.${n}, 198.51.100.77`)));
    expect(outcomes).toEqual([...Array(PER_ADDRESS).fill(['UNAUTHENTICATED']), ['RATE_LIMITED']]);
    // Another client, as the proxy saw it, has its own count.
    expect(errorCodes(await through('192.0.2.200, 198.51.100.78'))).toEqual(['UNAUTHENTICATED']);
  });
});

describe("the messages subgraph's own socket (pglite)", () => {
  let t: TestSystem;
  let conversationId: string;
  let owner: { token: string; id: string };
  const messagesUrl = () => t.system.subgraphs.messages.url;
  const asGateway = () => t.keyring.signer('gateway').token('messages');
  /** A socket to the messages subgraph, opened as the gateway opens its upstream ones for `token`'s user. */
  const openAsGateway = async (token: string) => openRawSocket(messagesUrl(), { authorization: `Bearer ${token}`, [SERVICE_TOKEN_PARAM]: await asGateway() });

  beforeAll(async () => {
    t = await startTestSystem('pglite', {
      WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: '2',
      WS_MAX_MESSAGE_BYTES: '2048',
      ACCESS_TOKEN_TTL_SECONDS: '6',
    });
  }, START_TIMEOUT_MS);
  afterAll(async () => {
    // The last test stops a subgraph; the rest stops as usual.
    await t?.stop().catch(() => undefined);
  });
  /** A fresh user (tokens live 6 s here) with a conversation of their own. */
  async function freshOwner(): Promise<void> {
    owner = await t.signUp('Owner');
    conversationId = (await startConversation(t, owner.token, (await createCharacter(t, owner.token, { name: 'Echo' })).id)).id;
  }

  it('refuses a connection without a service token, or with one that is not the gateway\'s for messages, with 4403', async () => {
    await freshOwner();
    const authorization = `Bearer ${owner.token}`;
    const refusals = {
      'no service token': { authorization },
      'another deployment': { authorization, [SERVICE_TOKEN_PARAM]: await createServiceKeyring(generateServiceKeySet()).signer('gateway').token('messages') },
      'for another subgraph': { authorization, [SERVICE_TOKEN_PARAM]: await t.keyring.signer('gateway').token('conversations') },
      // Sockets are the gateway's, for a signed-in user: a peer vouching for the user opens none.
      'a peer acting for the user': { [SERVICE_TOKEN_PARAM]: await t.keyring.signer('conversations').token('messages', { id: owner.id, role: 'USER' }) },
      'no user token': { [SERVICE_TOKEN_PARAM]: await asGateway() },
    };
    for (const [what, payload] of Object.entries(refusals)) {
      const raw = await openRawSocket(messagesUrl(), payload);
      expect([what, (await raw.closed).code]).toEqual([what, 4403]);
      expect(raw.messages.filter((m) => m.type === 'connection_ack')).toEqual([]);
    }
    const accepted = await openAsGateway(owner.token);
    expect(accepted.messages[0]?.type).toBe('connection_ack');
    accepted.socket.close();
  });

  it('refuses a subscription past WS_MAX_SUBSCRIPTIONS_PER_CONNECTION on one socket', async () => {
    await freshOwner();
    const raw = await openAsGateway(owner.token);
    for (const id of ['1', '2', '3']) raw.send({ id, type: 'subscribe', payload: { query: EVENTS, variables: { id: conversationId } } });
    const refused = await raw.next((m) => m.id === '3' && m.type === 'error');
    expect(refused.payload[0].extensions.code).toBe('RATE_LIMITED');
    expect(raw.messages.some((m) => (m.id === '1' || m.id === '2') && m.type === 'error')).toBe(false);
    raw.socket.close();
  });

  it('closes the socket with 1009 on a message over WS_MAX_MESSAGE_BYTES', async () => {
    await freshOwner();
    const raw = await openAsGateway(owner.token);
    raw.send({ id: 'big', type: 'subscribe', payload: { query: EVENTS, variables: { id: 'x'.repeat(4000) } } });
    expect((await raw.closed).code).toBe(1009);
  });

  it("closes the socket with 4403 when the user's access token expires", async () => {
    await freshOwner();
    const issued = Date.now();
    const raw = await openAsGateway(owner.token);
    raw.send({ id: 'live', type: 'subscribe', payload: { query: EVENTS, variables: { id: conversationId } } });
    const { code } = await raw.closed;
    // The token was issued just before `issued` and lives 6 s: the socket ends then, not before, not long after.
    const lifetime = Date.now() - issued;
    expect({ code, expired: lifetime > 4_000 && lifetime < 9_000 }).toEqual({ code: 4403, expired: true });
  }, 20_000);

  it('masks an unreachable subgraph at the gateway, over HTTP and over graphql-ws: no address, no reason, no stack', async () => {
    await freshOwner();
    const query = `{ characters(first: 1) { edges { cursor } } }`;
    expectOk(await t.gql(query));
    await t.system.subgraphs.characters.close();
    const http = await t.gql(query, {}, owner.token);
    expect(http.errors?.map((e) => [e.message, e.extensions?.code])).toEqual([[INTERNAL_ERROR_MESSAGE, 'INTERNAL_SERVER_ERROR']]);
    const client = wsClient(t.gatewayUrl, owner.token);
    try {
      const answer = collect(client, query, {}, 'characters');
      await answer.done;
      expect(answer.errors.map((e: any) => [e.message, e.extensions?.code])).toEqual([[INTERNAL_ERROR_MESSAGE, 'INTERNAL_SERVER_ERROR']]);
      for (const sent of [http, answer.errors]) expect(JSON.stringify(sent)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|stacktrace|request to/i);
    } finally {
      await client.dispose();
    }
  });
});
