/**
 * The message search benchmark (issue #18): `tsx bench/search/run.ts [--quick]`.
 *
 * Seeds the messages store with synthetic conversations (100,000 messages; 10,000 with --quick) on embedded PGlite
 * and, when one answers at TEST_DATABASE_URL / DATABASE_URL, a PostgreSQL server; then runs searchMessages' own
 * queries (MessageSearch.page and count, side by side as the resolver runs them) for one user's messages, each query
 * many times, and reports p50/p99 per query and whether EXPLAIN shows the GIN index (messages_search). Prints a
 * markdown table, writes bench/results/search.json, and exits non-zero when a query found nothing it should have
 * found or a plan did not use the index.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import pg from 'pg';
import { openDatabase, type Database } from '@chat/shared/db';
import { MessageSearch, type SearchFilters, type SearchLanguages, type SearchPosition } from '../../subgraphs/messages/search/store';
import { migrations, type MessagesTables } from '../../subgraphs/messages/store';
import { fmt, nearestRank } from '../stats';

const QUICK = process.argv.includes('--quick');
const MESSAGES = QUICK ? 10_000 : 100_000;
const ITERATIONS = QUICK ? 30 : 200;
const USERS = 20;
const CONVERSATIONS_PER_USER = 10;
const PAGE_SIZE = 20;
/** Every seeded conversation keeps the default language. */
const LANGUAGES: SearchLanguages = ['simple'];
const INSERT_CHUNK = 1_000;
const DATABASE_URL = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A seeded PRNG (mulberry32), so every run searches the same text. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 3,000 made-up words, drawn Zipf-like (a few common, most rare), plus the words the queries look for at known rates. */
const SYLLABLES = ['ka', 'lo', 'mi', 'ren', 'to', 'sa', 'vel', 'dor', 'an', 'ith', 'ur', 'qua', 'ne', 'bri', 'os'];
const VOCABULARY = Array.from({ length: 3_000 }, (_, i) => Array.from({ length: 2 + (i % 3) }, (_, k) => SYLLABLES[(i * 7 + k * 11 + (i >> 3)) % SYLLABLES.length]).join('') + (i % 97));
function sentence(rand: () => number): string {
  const word = () => VOCABULARY[Math.floor(VOCABULARY.length * rand() ** 3)];
  const words = Array.from({ length: 8 + Math.floor(rand() * 30) }, word);
  const r = rand();
  if (r < 0.1) words.splice(Math.floor(rand() * words.length), 0, 'tea');
  if (r > 0.95) words.splice(Math.floor(rand() * words.length), 0, 'storm');
  if (r > 0.998) words.splice(Math.floor(rand() * words.length), 0, 'the lighthouse keeper');
  else if (r > 0.997) words.splice(Math.floor(rand() * words.length), 0, 'lighthouse');
  return words.join(' ') + '.';
}

/**
 * The queries timed: what a user types, and the filters. Within one conversation (~50 messages here) the planner
 * rightly reads the conversation's b-tree instead of the GIN index (`gin: false`): every other query must use it.
 * The first page of a word in one message of ten is read from the table (a parallel scan on the server): the planner
 * finds that cheaper at either size, so that query is timed and its plan shown but not held to the index. With
 * --quick (10,000 messages) the same goes for every query but the selective ones (a rare word, a phrase).
 */
const QUERIES: Array<{ name: string; query: string; conversation?: boolean; secondPage?: boolean; role?: 'USER'; gin?: false; selective?: true }> = [
  { name: 'common word (tea, ~10%)', query: 'tea', gin: false },
  { name: 'rare word (lighthouse, ~0.3%)', query: 'lighthouse', selective: true },
  { name: 'phrase ("lighthouse keeper")', query: '"lighthouse keeper"', selective: true },
  { name: 'word and exclusion (storm -tea)', query: 'storm -tea' },
  { name: 'OR (storm or lighthouse)', query: 'storm or lighthouse' },
  { name: 'common word, one conversation', query: 'tea', conversation: true, gin: false },
  { name: 'common word, role USER', query: 'tea', role: 'USER' },
  { name: 'common word, second page', query: 'tea', secondPage: true },
];

interface QueryResult {
  name: string;
  matches: number;
  p50Ms: number;
  p99Ms: number;
  /** The plan's index scans on messages, by index name. */
  indexes: string[];
  /** The GIN index is in the plan, or the query is one that need not use it. */
  ok: boolean;
}

interface EngineResult {
  engine: string;
  messages: number;
  seedSeconds: number;
  queries: QueryResult[];
  plan: string;
}

async function seed(db: Database<MessagesTables>['db']): Promise<{ userId: string; conversationId: string }> {
  const users = Array.from({ length: USERS }, () => randomUUID());
  const conversations = users.flatMap((user) => Array.from({ length: CONVERSATIONS_PER_USER }, () => ({ conversation_id: randomUUID(), user_id: user, character_id: randomUUID(), created_at: new Date(), search_config: 'simple' })));
  await db.insertInto('conversation_owners').values(conversations).execute();
  const start = Date.now() - 90 * 86_400_000;
  // The same text on every engine.
  const rand = random(18);
  for (let i = 0; i < MESSAGES; i += INSERT_CHUNK) {
    const rows = Array.from({ length: Math.min(INSERT_CHUNK, MESSAGES - i) }, (_, k) => {
      const n = i + k;
      const at = new Date(start + (n / MESSAGES) * 90 * 86_400_000);
      return {
        id: randomUUID(),
        conversation_id: conversations[n % conversations.length].conversation_id,
        role: n % 2 === 0 ? 'USER' : 'ASSISTANT',
        content: sentence(rand),
        status: 'COMPLETED',
        created_at: at,
        completed_at: at,
        active: true,
      };
    });
    await db.insertInto('messages').values(rows as never).execute();
  }
  await sql`ANALYZE`.execute(db);
  return { userId: conversations[0].user_id, conversationId: conversations[0].conversation_id };
}

async function measure(engine: string, config: Parameters<typeof openDatabase>[0]['config']): Promise<EngineResult> {
  const database = await openDatabase<MessagesTables>({ name: 'messages', config, migrations });
  try {
    const seedStart = Date.now();
    const seeded = await seed(database.db);
    const seedSeconds = (Date.now() - seedStart) / 1000;
    const search = new MessageSearch(() => database.db);
    const maxSeq = await search.lastSeq();
    const results: QueryResult[] = [];
    let plan = '';
    for (const q of QUERIES) {
      const filters: SearchFilters = { userId: seeded.userId, ...(q.conversation ? { conversationId: seeded.conversationId } : {}), ...(q.role ? { role: q.role } : {}) };
      let position: SearchPosition = { anchor: new Date(), maxSeq, after: null };
      if (q.secondPage) {
        const first = await search.page(q.query, LANGUAGES, filters, position, PAGE_SIZE);
        const last = first[PAGE_SIZE - 1];
        if (last) position = { ...position, after: { score: last.score, seq: Number(last.message.seq) } };
      }
      const times: number[] = [];
      let matches = 0;
      for (let i = 0; i < ITERATIONS; i += 1) {
        const began = performance.now();
        const [, count] = await Promise.all([search.page(q.query, LANGUAGES, filters, position, PAGE_SIZE), search.count(q.query, LANGUAGES, filters, maxSeq)]);
        times.push(performance.now() - began);
        matches = count;
      }
      times.sort((a, b) => a - b);
      const explained = await search.explainPage(q.query, LANGUAGES, filters, position, PAGE_SIZE);
      if (!plan) plan = explained;
      const indexes = [...new Set([...explained.matchAll(/Index (?:Only )?Scan (?:using|on) (messages_\w+)/g)].map((m) => m[1]))];
      const ok = q.gin === false || indexes.includes('messages_search') || (QUICK && !q.selective);
      results.push({ name: q.name, matches, p50Ms: nearestRank(times, 0.5), p99Ms: nearestRank(times, 0.99), indexes, ok });
    }
    return { engine, messages: MESSAGES, seedSeconds, queries: results, plan };
  } finally {
    await database.close();
  }
}

/** The server's benchmark schema goes when the run ends. */
async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

async function serverAnswers(): Promise<boolean> {
  const client = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

const results: EngineResult[] = [];
results.push(await measure('pglite', { dataDir: 'memory://', databaseSchemaPrefix: '' }));
if (await serverAnswers()) {
  const prefix = `bench_search_${process.pid}_`;
  try {
    results.push(await measure('postgres', { dataDir: 'memory://', databaseUrl: DATABASE_URL, databaseSchemaPrefix: prefix }));
  } finally {
    await dropSchema(`${prefix}messages`);
  }
} else {
  console.log(`(no PostgreSQL server at ${DATABASE_URL.replace(/\/\/[^@]*@/, '//')}: PGlite only)`);
}

for (const result of results) {
  console.log(`\n### ${result.engine}: ${result.messages} messages (${USERS} users, seeded in ${fmt(result.seedSeconds)} s), ${ITERATIONS} runs per query, one user's ~${result.messages / USERS} messages\n`);
  console.log('| query | matches | p50 ms | p99 ms | indexes on messages in the plan |\n|---|---:|---:|---:|---|');
  for (const q of result.queries) console.log(`| ${q.name} | ${q.matches} | ${fmt(q.p50Ms)} | ${fmt(q.p99Ms)} | ${q.indexes.join(', ') || '–'}${q.ok ? '' : ' (NO GIN)'} |`);
  console.log(`\nEXPLAIN of "${QUERIES[0].query}":\n\n${result.plan.split('\n').map((line) => `    ${line}`).join('\n')}`);
}
const resultsDir = fileURLToPath(new URL('../results/', import.meta.url));
mkdirSync(resultsDir, { recursive: true });
writeFileSync(`${resultsDir}search.json`, JSON.stringify({ mode: QUICK ? 'quick' : 'full', cpus: cpus().length, node: process.version, startedAt: new Date().toISOString(), results }, null, 2));
const failures = results.flatMap((r) => r.queries.filter((q) => q.matches === 0 || !q.ok).map((q) => `${r.engine}: ${q.name}`));
if (failures.length > 0) {
  console.error(`search bench: a query found nothing or did not use the GIN index: ${failures.join(', ')}`);
  process.exit(1);
}
