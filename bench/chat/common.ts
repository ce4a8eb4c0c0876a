/** What the chat benchmarks share: a GraphQL client over HTTP, a population of users and conversations, statistics. */
import { performance } from 'node:perf_hooks';
import { nearestRank } from '../stats';

export { fmt } from '../stats';

/** A GraphQL answer as a client sees it. */
export interface GqlResult<T = any> {
  status: number;
  data?: T;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

/** POSTs one GraphQL operation to `url` (errors are returned, not thrown; a network failure is status 0). */
export async function gql<T = any>(url: string, query: string, variables: Record<string, unknown> = {}, token?: string): Promise<GqlResult<T>> {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(60_000),
    });
    const body = (await response.json()) as { data?: T; errors?: GqlResult['errors'] };
    return { status: response.status, data: body.data ?? undefined, errors: body.errors };
  } catch (error) {
    return { status: 0, errors: [{ message: String(error), extensions: { code: 'NETWORK' } }] };
  }
}

/** The data of a successful answer; throws with the errors otherwise. */
export function ok<T>(result: GqlResult<T>, what: string): NonNullable<T> {
  if (result.status !== 200 || result.errors?.length || !result.data) throw new Error(`${what} failed (${result.status}): ${JSON.stringify(result.errors)}`);
  return result.data;
}

/** Epoch milliseconds with sub-millisecond precision, comparable across processes of one machine. */
export const nowMs = (): number => performance.timeOrigin + performance.now();

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs `work(i)` for i in [0, count) with at most `concurrency` at a time; returns the results in order. */
export async function pool<T>(count: number, concurrency: number, work: (i: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      results[i] = await work(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}

/** A signed-up user. */
export interface BenchUser {
  id: string;
  token: string;
}

/** Users, each owning some conversations with one shared public character. */
export interface Population {
  users: BenchUser[];
  /** Conversation i belongs to user `i % users.length` (so consecutive conversations spread across users). */
  conversations: Array<{ id: string; user: BenchUser }>;
}

const REGISTER = `mutation($input: RegisterInput!) { register(input: $input) { accessToken user { id } } }`;
const CREATE_CHARACTER = `mutation($input: CharacterInput!) { createCharacter(input: $input) { id } }`;
const START = `mutation($c: ID!) { startConversation(input: { characterId: $c, title: "Bench" }) { id } }`;

/** Makes emails unique across runs and across populations of one run. */
const RUN = `${process.pid.toString(36)}${Date.now().toString(36)}`;
let populations = 0;

/** Signs up `users` users (a few at a time: sign-up hashes a password) and starts `conversations` conversations among them. */
export async function populate(gatewayUrl: string, options: { users: number; conversations: number }): Promise<Population> {
  const tag = `${RUN}p${(populations += 1)}`;
  const users = await pool(options.users, 4, async (i) => {
    const input = { email: `bench${tag}u${i}@example.com`, password: 'correct horse battery', displayName: `Bench ${i}` };
    const data = ok(await gql(gatewayUrl, REGISTER, { input }), 'register');
    return { id: data.register.user.id as string, token: data.register.accessToken as string };
  });
  const character = ok(
    await gql(gatewayUrl, CREATE_CHARACTER, { input: { name: 'Bench Bot', personality: 'Terse.', greeting: 'Ready.', visibility: 'PUBLIC' } }, users[0].token),
    'createCharacter',
  ).createCharacter.id as string;
  const conversations = await pool(options.conversations, 16, async (i) => {
    const user = users[i % users.length];
    const data = ok(await gql(gatewayUrl, START, { c: character }, user.token), 'startConversation');
    return { id: data.startConversation.id as string, user };
  });
  return { users, conversations };
}

export const SEND = `mutation($input: SendMessageInput!) { sendMessage(input: $input) { message { id } reply { id status } } }`;

/** Percentiles and extremes of a sample (nearest rank), in the sample's unit. */
export interface Summary {
  n: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
  mean: number | null;
}

/** Summarises a sample (null figures when it is empty). */
export function summarize(values: number[]): Summary {
  if (values.length === 0) return { n: 0, p50: null, p99: null, max: null, mean: null };
  const sorted = Float64Array.from(values).sort();
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  return { n: sorted.length, p50: nearestRank(sorted, 0.5), p99: nearestRank(sorted, 0.99), max: sorted[sorted.length - 1], mean };
}

/** A markdown table. */
export function table(header: string[], rows: Array<Array<string | number>>): string {
  const line = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
