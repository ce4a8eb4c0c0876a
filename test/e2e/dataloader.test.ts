/**
 * Proof of batching: listing 50 conversations with fields from every subgraph costs each subgraph's
 * database the same few queries as listing 5 (no N+1 anywhere along the federated plan).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SUBGRAPH_NAMES } from '@chat/shared/config';
import { queriesDuring } from '../support/query-count';
import { startTestSystem, type TestSystem } from '../support/system';
import { createCharacter, expectOk, readAllPages, START_TIMEOUT_MS, startConversation } from './helpers';

const CONVERSATIONS = 50;
const LIST = /* GraphQL */ `
  query($first: Int) {
    me { conversations(first: $first) { edges { node {
      id title
      character { name }
      lastMessage { content }
      messageCount
      user { displayName }
    } } } }
  }`;

describe('DataLoader batching (postgres)', () => {
  let t: TestSystem;
  let user: { token: string; id: string };
  const greetings = new Map<string, string>();

  beforeAll(async () => {
    t = await startTestSystem('postgres');
    user = await t.signUp('Batcher');
    const characters = await Promise.all(
      [0, 1, 2, 3, 4].map((i) => createCharacter(t, user.token, { name: `Batched ${i}`, greeting: `Greeting number ${i}.` })),
    );
    for (const c of characters) greetings.set(c.name, c.greeting);
    // Five at a time: quick, and each character is shared by ten conversations.
    for (let i = 0; i < CONVERSATIONS; i += 5) {
      await Promise.all(characters.map((c) => startConversation(t, user.token, c.id)));
    }
  }, START_TIMEOUT_MS);
  afterAll(() => t?.stop());

  async function listQueries(first: number) {
    // The fewest of three readings: background work only adds queries to a window.
    return queriesDuring(t, async () => {
      const res = await t.gql(LIST, { first }, user.token);
      const edges = expectOk(res).me.conversations.edges;
      expect(edges).toHaveLength(first);
      for (const { node } of edges) {
        expect(node.user).toEqual({ displayName: 'Batcher' });
        expect(node.messageCount).toBe(1);
        expect(node.lastMessage.content).toBe(greetings.get(node.character.name));
        expect(node.title).toBe(`Chat with ${node.character.name}`);
      }
    }, { readings: 3 });
  }

  it(`holds ${CONVERSATIONS} conversations, all listed once across pages`, async () => {
    const pages = await readAllPages(async (after) =>
      expectOk(await t.gql(`query($after: String) { me { conversations(first: 20, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } } }`, { after }, user.token))
        .me.conversations,
    );
    const ids = pages.flatMap((p) => p.edges.map((e) => e.node.id));
    expect(pages.map((p) => p.edges.length)).toEqual([20, 20, 10]);
    expect(new Set(ids).size).toBe(CONVERSATIONS);
  });

  it('runs the same few queries per subgraph for 50 conversations as for 5', async () => {
    await listQueries(5); // warm-up: nothing lazily initialised is counted below
    const five = await listQueries(5);
    const fifty = await listQueries(CONVERSATIONS);
    expect(fifty).toEqual(five);
    for (const name of SUBGRAPH_NAMES) {
      expect([name, five[name] >= 1 && five[name] <= 3]).toEqual([name, true]);
    }
  });
});
