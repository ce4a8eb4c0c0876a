/**
 * deleteAccount through the gateway (issue 19), on PGlite and on PostgreSQL with Redis: the account
 * cannot sign in from the moment it answers; the erasure is a saga that finishes although the
 * messages subgraph is stopped halfway and started again (and the users subgraph, whose worker
 * resumes it from its rows); the user's public character another user
 * talks with stays, owned by "Deleted user"; then no row of any table of any schema, and no Redis
 * key, mentions the user's id or email. Two deleteAccount calls at once, through two gateways, make one erasure.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { DELETED_USER_ID, DELETED_USER_NAME } from '@chat/shared/erasure';
import { ErrorCode } from '@chat/shared/errors';
import { startGateway, type RunningGateway } from '@chat/gateway';
import { startSubgraph } from '@chat/system';
import type { UsersService } from '@chat/users';
import { codeOf, sendOk, startChat, START_TIMEOUT_MS, waitForEnd, waitUntil } from '../chat/helpers';
import { expectError, expectOk } from '../e2e/helpers';
import { freePort } from '../support/ports';
import { startTestSystem, TEST_DATABASE_URL, type Engine, type TestSystem } from '../support/system';
import { pgliteRowsMentioning, redisMentioning, rowsMentioning, type Leftover } from './leftovers';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PASSWORD = 'correct horse battery';
const DELETE_ACCOUNT = /* GraphQL */ `mutation($p: String!) { deleteAccount(password: $p) }`;
const LOGIN = /* GraphQL */ `mutation($input: LoginInput!) { login(input: $input) { accessToken } }`;
const REFRESH = /* GraphQL */ `mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }`;
const ME = /* GraphQL */ `{ me { id } }`;
const CHARACTER = /* GraphQL */ `query($id: ID!) { character(id: $id) { id name owner { id displayName } } }`;
/** How long the saga may take once every subgraph is up (retries back off; a loaded machine gets room). */
const SAGA_BOUND_MS = 60_000;

describe.each<[Engine, Record<string, string>]>([
  ['pglite', {}],
  ['postgres', { REDIS_URL }],
])('deleteAccount on %s', (engine, env) => {
  let t: TestSystem;
  let dataDir: string | undefined;
  let restarted: Awaited<ReturnType<typeof startSubgraph>> | undefined;
  let restartedUsers: Awaited<ReturnType<typeof startSubgraph>> | undefined;
  let secondGateway: RunningGateway | undefined;
  let systemStopped = false;
  const users = () => (restartedUsers ?? t.system.subgraphs.users).service as UsersService;

  beforeAll(async () => {
    // A folder, not memory: the restarted users subgraph signs with the same key, and PGlite's files
    // are read table by table once the system has stopped.
    dataDir = mkdtempSync(join(tmpdir(), 'erasure-'));
    t = await startTestSystem(engine, { ...env, DATA_DIR: dataDir });
  }, START_TIMEOUT_MS);

  afterAll(async () => {
    await secondGateway?.close();
    await restarted?.close();
    await restartedUsers?.close();
    if (!systemStopped) await t?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  /** Everything the user can own, in every subgraph: characters (one another user talks with), conversations with messages, a lorebook, a persona, sessions. */
  async function populate() {
    const chat = await startChat(t, { name: 'Leaving', character: { visibility: 'PUBLIC', name: 'Kept Character' } });
    const { user } = chat;
    const sent = await sendOk(t, user.token, chat.conversationId, 'Hello before I go');
    await waitForEnd(t, user.token, sent.reply.id);
    expectOk(await t.gql(`mutation { createPersona(input: { name: "Alter ego", description: "me" }) { id } }`, {}, user.token));
    expectOk(await t.gql(`mutation { createLorebook(input: { name: "My world", entries: [{ keys: ["x"], content: "y" }] }) { id } }`, {}, user.token));
    const priv = await startChat(t, { user, character: { name: 'Private One', visibility: 'PRIVATE' } });
    // Another user talks with the leaving user's public character; the leaving user talks with theirs.
    const other = await startChat(t, { name: 'Staying', character: { visibility: 'PUBLIC', name: 'Their Character' } });
    const theirs = expectOk(await t.gql(`mutation($c: ID!) { startConversation(input: { characterId: $c }) { id } }`, { c: chat.characterId }, other.user.token)).startConversation;
    expectOk(await t.gql(`mutation($c: ID!) { startConversation(input: { characterId: $c }) { id } }`, { c: other.characterId }, user.token));
    // A second sign-in (sessions, a sign-in address, throttle counts naming the email).
    const session = expectOk(await t.gql(LOGIN, { input: { email: user.email, password: PASSWORD } })).login;
    return { user, session, keptCharacterId: chat.characterId, privateCharacterId: priv.characterId, other, othersConversationId: theirs.id };
  }

  it('two deleteAccount calls at once, through two gateways, make one erasure', async () => {
    secondGateway = await startGateway({ ...t.config, port: await freePort() }, t.keyring);
    const user = await t.signUp('Twice');
    const [a, b] = await Promise.all([
      t.gql(DELETE_ACCOUNT, { p: PASSWORD }, user.token),
      t.gql(DELETE_ACCOUNT, { p: PASSWORD }, user.token, secondGateway.url),
    ]);
    // Each answers true, or (the first having ended every session and the password) UNAUTHENTICATED.
    for (const res of [a, b]) expect(res.data?.deleteAccount === true || codeOf(res) === ErrorCode.UNAUTHENTICATED).toBe(true);
    expect([a, b].some((res) => res.data?.deleteAccount === true)).toBe(true);
    const steps = await users().store.saga.stepsOf(user.id);
    expect(steps.length === 0 || steps.map((s) => s.step).sort().join() === 'characters,conversations,messages,users').toBe(true);
    await waitUntil(async () => (await users().store.saga.stepsOf(user.id)).length === 0, SAGA_BOUND_MS, 'the erasure to finish');
    expect(await users().store.usersByIds([user.id])).toEqual([]);
    await secondGateway.close();
    secondGateway = undefined;
  }, 120_000);


  it('erases the account everywhere, though the messages subgraph is stopped halfway and the users subgraph restarted; only the character others use stays', async () => {
    const { user, session, keptCharacterId, privateCharacterId, other, othersConversationId } = await populate();

    // The messages subgraph goes away before the erasure starts.
    const messagesUrl = t.system.subgraphs.messages.url;
    await t.system.subgraphs.messages.close();
    expect(expectOk(await t.gql(DELETE_ACCOUNT, { p: PASSWORD }, user.token)).deleteAccount).toBe(true);

    // From that moment the account cannot sign in, and its sessions end.
    expectError(await t.gql(LOGIN, { input: { email: user.email, password: PASSWORD } }), ErrorCode.UNAUTHENTICATED);
    expectError(await t.gql(REFRESH, { t: user.refreshToken }), ErrorCode.UNAUTHENTICATED);
    await waitUntil(async () => codeOf(await t.gql(ME, {}, session.accessToken)) === ErrorCode.UNAUTHENTICATED, 10_000, 'the access token to be refused');

    // The other steps finish; the messages step fails and waits for its subgraph.
    await waitUntil(
      async () => {
        const steps = await users().store.saga.stepsOf(user.id);
        const byStep = Object.fromEntries(steps.map((s) => [s.step, s]));
        return byStep.conversations?.done_at != null && byStep.characters?.done_at != null && byStep.messages?.last_error != null && byStep.users?.done_at == null;
      },
      SAGA_BOUND_MS,
      'every step but the messages one to be done, and that one to have failed',
    );
    expect((await users().store.usersByIds([user.id])).length).toBe(1);

    // The users subgraph (the saga's worker) stops too; the messages subgraph comes back on its port,
    // then the users subgraph: its worker resumes the saga from its rows and finishes it.
    await t.system.subgraphs.users.close();
    restarted = await startSubgraph('messages', t.config, t.keyring);
    expect(restarted.url).toBe(messagesUrl);
    restartedUsers = await startSubgraph('users', t.config, t.keyring);
    await waitUntil(async () => (await users().store.saga.stepsOf(user.id)).length === 0, SAGA_BOUND_MS, 'the erasure to finish');
    expect(await users().store.usersByIds([user.id])).toEqual([]);

    // The public character the other user talks with stays, owned by the placeholder; the private one is gone.
    const kept = expectOk(await t.gql(CHARACTER, { id: keptCharacterId }, other.user.token)).character;
    expect(kept).toEqual({ id: keptCharacterId, name: 'Kept Character', owner: { id: DELETED_USER_ID, displayName: DELETED_USER_NAME } });
    expect(expectOk(await t.gql(CHARACTER, { id: privateCharacterId }, other.user.token)).character).toBeNull();
    const reply = await sendOk(t, other.user.token, othersConversationId, 'Still there?');
    expect((await waitForEnd(t, other.user.token, reply.reply.id)).status).toBe('COMPLETED');
    // The same email may register again: a new account, nothing of the old one.
    expectOk(await t.gql(`mutation($input: RegisterInput!) { register(input: $input) { user { id } } }`, { input: { email: user.email, password: PASSWORD, displayName: 'New' } }));
    await t.gql(DELETE_ACCOUNT, { p: PASSWORD }, expectOk(await t.gql(LOGIN, { input: { email: user.email, password: PASSWORD } })).login.accessToken);
    await waitUntil(async () => (await users().store.saga.pendingCount()) === 0, SAGA_BOUND_MS, 'the second erasure to finish');

    // Nothing of the user is left: no row of any table of any schema, no Redis key. The user who
    // stays is searched for too, and found: the search reads what is there.
    const needles = [user.id, user.email, other.user.id];
    let leftovers: Leftover[];
    if (engine === 'postgres') {
      const db = new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1 }) }) });
      try {
        const rows = await rowsMentioning(db, needles, t.config.databaseSchemaPrefix);
        expect(rows.tables).toBeGreaterThanOrEqual(12);
        leftovers = rows.found;
      } finally {
        await db.destroy();
      }
      const redis = await redisMentioning(t.config, needles);
      expect(redis.keys).toBeGreaterThan(0);
      leftovers.push(...redis.found);
    } else {
      await restarted.close();
      restarted = undefined;
      await restartedUsers.close();
      restartedUsers = undefined;
      await t.stop();
      systemStopped = true;
      const rows = await pgliteRowsMentioning(dataDir!, needles);
      expect(rows.tables).toBeGreaterThanOrEqual(12);
      leftovers = rows.found;
    }
    const mentions = (needle: string) => leftovers.filter((f) => f.text.toLowerCase().includes(needle.toLowerCase()) || f.where.includes(needle));
    expect(mentions(other.user.id).length).toBeGreaterThan(0);
    expect([...mentions(user.id), ...mentions(user.email)]).toEqual([]);
  }, 240_000);

});
