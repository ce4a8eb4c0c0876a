/**
 * Database queries per request for the contract's paginated lists, as the page grows: each list
 * (with fields from the other subgraphs, as a client would select them) is read at several page
 * sizes, counting each subgraph's `service.stats.queries`, so it runs in the process that holds the
 * system (bench/chat/child.ts). Batching works when every count stays the same from the smallest
 * page to the largest.
 */
import { SUBGRAPH_NAMES, type SubgraphName } from '@chat/shared/config';
import { queriesDuring } from '../../test/support/query-count';
import type { TestSystem } from '../../test/support/system';
import { ok, sleep } from './common';

/** Page sizes read, smallest first. */
export const PAGE_SIZES = [5, 10, 20, 50];
const ITEMS = 50;

/** One list's counts: `queries[subgraph][i]` for page size PAGE_SIZES[i]. */
export interface ListQueryCounts {
  list: string;
  queries: Record<SubgraphName, number[]>;
  flat: boolean;
}

/** The lists: a name, the operation, and the edges of its answer. */
const LISTS: Array<{ name: string; query: string; edges: (data: any) => unknown[]; variables?: (ids: Seed) => Record<string, unknown> }> = [
  {
    name: 'me.conversations(first)',
    query: `query($n: Int) { me { conversations(first: $n) { edges { node { id title character { name } lastMessage { content } messageCount user { displayName } } } } } }`,
    edges: (d) => d.me.conversations.edges,
  },
  {
    name: 'characters(first)',
    query: `query($n: Int) { characters(first: $n) { edges { node { id name tags owner { displayName } } } } }`,
    edges: (d) => d.characters.edges,
  },
  {
    name: 'characters(first, search)',
    query: `query($n: Int) { characters(first: $n, search: "lighthouse") { edges { node { id name owner { displayName } } } } }`,
    edges: (d) => d.characters.edges,
  },
  {
    name: 'characters(first, tag)',
    query: `query($n: Int) { characters(first: $n, tag: "bench") { edges { node { id name owner { displayName } } } } }`,
    edges: (d) => d.characters.edges,
  },
  {
    name: 'conversation.messages(first)',
    query: `query($id: ID!, $n: Int) { conversation(id: $id) { messages(first: $n) { edges { node { id role status content author { displayName } conversation { title } } } } } }`,
    edges: (d) => d.conversation.messages.edges,
    variables: (seed) => ({ id: seed.longConversation }),
  },
  {
    name: 'conversation.messages(last)',
    query: `query($id: ID!, $n: Int) { conversation(id: $id) { messages(last: $n) { edges { node { id role status content author { displayName } conversation { title } } } } } }`,
    edges: (d) => d.conversation.messages.edges,
    variables: (seed) => ({ id: seed.longConversation }),
  },
  {
    name: 'conversation.messageTree(first)',
    query: `query($id: ID!, $n: Int) { conversation(id: $id) { messageTree(first: $n) { edges { node { id role content active alternativeIndex parent { id } alternatives { id } author { displayName } } } } } }`,
    edges: (d) => d.conversation.messageTree.edges,
    variables: (seed) => ({ id: seed.longConversation }),
  },
];

interface Seed {
  token: string;
  longConversation: string;
}

/** Fills `t` (a system running in this process) with a user's 50 characters, conversations and messages, then counts. */
export async function measureQueryCounts(t: TestSystem): Promise<ListQueryCounts[]> {
  const seed = await fill(t);
  const results: ListQueryCounts[] = [];
  for (const list of LISTS) {
    const variables = list.variables?.(seed) ?? {};
    const read = async (n: number) => {
      const data = ok(await t.gql(list.query, { ...variables, n }, seed.token), list.name);
      if (list.edges(data).length !== n) throw new Error(`${list.name}: asked for ${n}, got ${list.edges(data).length}`);
    };
    await read(PAGE_SIZES[0]); // warm-up: nothing lazily initialised is counted
    await quiet(t);
    const queries = Object.fromEntries(SUBGRAPH_NAMES.map((name) => [name, [] as number[]])) as Record<SubgraphName, number[]>;
    for (const n of PAGE_SIZES) {
      // The fewer of two readings: a stray background query cannot inflate a count.
      const fewest = await queriesDuring(t, () => read(n), { readings: 2 });
      for (const name of SUBGRAPH_NAMES) queries[name].push(fewest[name]);
    }
    const flat = SUBGRAPH_NAMES.every((name) => queries[name].every((count) => count === queries[name][0]));
    results.push({ list: list.name, queries, flat });
  }
  return results;
}

/** 50 public characters (tagged, searchable), a conversation with each, and one conversation of 51 messages on its active path (56 in its tree). */
async function fill(t: TestSystem): Promise<Seed> {
  const user = await t.signUp('Counter');
  const characters: string[] = [];
  for (let i = 0; i < ITEMS; i += 10) {
    const batch = await Promise.all(
      Array.from({ length: 10 }, (_, k) =>
        t.gql(`mutation($input: CharacterInput!) { createCharacter(input: $input) { id } }`, {
          input: { name: `Keeper ${i + k}`, description: 'Keeps the lighthouse.', greeting: `Hello ${i + k}.`, tags: ['bench'], visibility: 'PUBLIC' },
        }, user.token),
      ),
    );
    characters.push(...batch.map((res) => ok(res, 'createCharacter').createCharacter.id as string));
  }
  const conversations: string[] = [];
  for (let i = 0; i < ITEMS; i += 10) {
    const batch = await Promise.all(
      characters.slice(i, i + 10).map((c) => t.gql(`mutation($c: ID!) { startConversation(input: { characterId: $c }) { id } }`, { c }, user.token)),
    );
    conversations.push(...batch.map((res) => ok(res, 'startConversation').startConversation.id as string));
  }
  const longConversation = conversations[0];
  // 25 exchanges after the greeting: 51 messages on the active path, one after the other (a send waits for the
  // reply before it) so that every page holds USER messages (with an author); every fifth reply regenerated
  // once, so that the tree has branches (56 messages in all).
  for (let i = 0; i < ITEMS / 2; i += 1) {
    const sent = ok<any>(await t.gql(`mutation($input: SendMessageInput!) { sendMessage(input: $input) { reply { id } } }`, { input: { conversationId: longConversation, content: `Question number ${i}?` } }, user.token), 'sendMessage');
    await replyEnded(t, user.token, sent.sendMessage.reply.id);
    if (i % 5 === 0) {
      const again = ok<any>(await t.gql(`mutation($id: ID!) { regenerateReply(messageId: $id) { id } }`, { id: sent.sendMessage.reply.id }, user.token), 'regenerateReply');
      await replyEnded(t, user.token, again.regenerateReply.id);
    }
  }
  return { token: user.token, longConversation };
}

/** Waits until a reply has ended, so that it writes nothing while queries are counted (and the next send is not refused). */
async function replyEnded(t: TestSystem, token: string, replyId: string): Promise<void> {
  for (let tries = 0; tries < 300; tries += 1) {
    const data = ok<any>(await t.gql(`query($id: ID!) { message(id: $id) { status } }`, { id: replyId }, token), 'message');
    if (data.message.status !== 'PENDING' && data.message.status !== 'STREAMING') return;
    await sleep(50);
  }
  throw new Error(`reply ${replyId} did not end`);
}

/** Total database queries of every subgraph so far. */
const totalQueries = (t: TestSystem) => SUBGRAPH_NAMES.reduce((sum, name) => sum + t.system.subgraphs[name].service.stats.queries, 0);

/** Waits until no subgraph has run a query for 100 ms (fire-and-forget writes of earlier requests have landed). */
async function quiet(t: TestSystem): Promise<void> {
  for (let last = -1, tries = 0; totalQueries(t) !== last && tries < 50; tries += 1) {
    last = totalQueries(t);
    await sleep(100);
  }
}

