/**
 * The four subgraphs of the graphql-hive/graphql-gateways-benchmark scenario (accounts, inventory,
 * products, reviews), written here in Node and served from one HTTP server at /accounts,
 * /inventory, /products and /reviews. They answer from `scenario/data.json` by the scenario's rules
 * (see BENCHMARKS.md) and compose to `scenario/supergraph.graphql` (checked by `checkComposition`).
 *
 * Built to stay out of the way of the gateways they serve: @apollo/subgraph schemas executed with
 * graphql-js, each distinct operation text parsed and validated once, Map lookups, keep-alive HTTP,
 * and, the data being static, each distinct request body's answer computed once and then replayed
 * (RESPONSE_CACHE_ENTRIES): the published benchmark's subgraphs are Rust and nearly free, and ours
 * share a core with the load generator (and, on a shared machine, with other work).
 *
 * Run alone: `tsx bench/gateway/subgraphs.ts [--port 4200]` prints `ready <port>` once listening.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { composeServices } from '@apollo/composition';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import {
  buildSchema,
  execute,
  lexicographicSortSchema,
  parse,
  printSchema,
  validate,
  type DocumentNode,
  type GraphQLSchema,
} from 'graphql';

/** Where the scenario's files live. */
export const SCENARIO_DIR = fileURLToPath(new URL('./scenario/', import.meta.url));
/** The scenario's subgraphs, each served at `/<name>`. */
export const BENCH_SUBGRAPHS = ['accounts', 'inventory', 'products', 'reviews'] as const;
export type BenchSubgraph = (typeof BENCH_SUBGRAPHS)[number];
/** The routing URL origin written in the published supergraph (rewritten to ours by `benchSupergraph`). */
export const PUBLISHED_ORIGIN = 'http://0.0.0.0:4200';
/** `topProducts`' default page size (the scenario's schema default). */
export const TOP_PRODUCTS_DEFAULT = 5;
/** Above this price a product ships for free (shippingEstimate 0). */
export const FREE_SHIPPING_ABOVE_PRICE = 1000;
/** Distinct request bodies whose answers are kept (per server); past this, answers are computed each time. */
export const RESPONSE_CACHE_ENTRIES = 10_000;
/** Every review's author, as the reviews subgraph provides it. */
export const REVIEW_AUTHOR = { id: '1', username: 'urigo' } as const;
/** The reviews every user has (by id), whoever the user is. */
export const USER_REVIEW_IDS: readonly string[] = ['1', '2'];

export interface BenchUser { id: string; name: string; username: string; birthday: number }
export interface BenchProduct { upc: string; name: string; price: number; weight: number }
export interface BenchReview { id: string; body: string; productUpc: string }
/** The scenario's static records. */
export interface BenchData {
  users: BenchUser[];
  products: BenchProduct[];
  inventory: { upc: string; inStock: boolean }[];
  reviews: BenchReview[];
}

/** Reads `scenario/data.json`. */
export function loadBenchData(): BenchData {
  return JSON.parse(readFileSync(resolve(SCENARIO_DIR, 'data.json'), 'utf8')) as BenchData;
}

/** The published supergraph with every subgraph routed to `origin` (e.g. http://127.0.0.1:4200). */
export function benchSupergraph(origin: string): string {
  return readFileSync(resolve(SCENARIO_DIR, 'supergraph.graphql'), 'utf8').replaceAll(PUBLISHED_ORIGIN, origin);
}

const FEDERATION_LINK = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable", "@external", "@requires", "@provides"])';

/** Each subgraph's schema, in Federation 2 SDL. */
export const TYPE_DEFS: Record<BenchSubgraph, string> = {
  accounts: `${FEDERATION_LINK}
    type Query { me: User  user(id: ID!): User  users: [User] }
    type User @key(fields: "id") { id: ID!  name: String  username: String @shareable  birthday: Int }`,
  inventory: `${FEDERATION_LINK}
    type Product @key(fields: "upc") {
      upc: String!
      weight: Int @external
      price: Int @external
      inStock: Boolean
      shippingEstimate: Int @requires(fields: "price weight")
    }`,
  products: `${FEDERATION_LINK}
    type Query { topProducts(first: Int = ${TOP_PRODUCTS_DEFAULT}): [Product] }
    type Product @key(fields: "upc") { upc: String!  name: String  price: Int  weight: Int }`,
  reviews: `${FEDERATION_LINK}
    type Review @key(fields: "id") { id: ID!  body: String  product: Product  author: User @provides(fields: "username") }
    type User @key(fields: "id") { id: ID!  username: String @external  reviews: [Review] }
    type Product @key(fields: "upc") { upc: String!  reviews: [Review] }`,
};

function byKey<T, K extends keyof T>(rows: readonly T[], key: K): Map<T[K], T> {
  return new Map(rows.map((row) => [row[key], row]));
}

/** Each subgraph's resolvers over `data`, by the scenario's rules. */
export function benchResolvers(data: BenchData): Record<BenchSubgraph, GraphQLResolverMap<unknown>> {
  const users = byKey(data.users, 'id');
  const products = byKey(data.products, 'upc');
  const stock = byKey(data.inventory, 'upc');
  const reviews = byKey(data.reviews, 'id');
  const reviewsOfProduct = new Map<string, BenchReview[]>();
  for (const review of data.reviews) reviewsOfProduct.set(review.productUpc, [...(reviewsOfProduct.get(review.productUpc) ?? []), review]);
  const userReviews = USER_REVIEW_IDS.map((id) => reviews.get(id));
  type Ref = Record<string, unknown>;
  return {
    accounts: {
      Query: {
        me: () => data.users[0],
        user: (_: unknown, { id }: { id: string }) => users.get(id) ?? null,
        users: () => data.users,
      },
      User: { __resolveReference: (ref: Ref) => users.get(ref.id as string) ?? null },
    },
    products: {
      Query: { topProducts: (_: unknown, { first }: { first: number }) => data.products.slice(0, first) },
      Product: { __resolveReference: (ref: Ref) => products.get(ref.upc as string) ?? null },
    },
    inventory: {
      Product: {
        // The representation carries the required price and weight.
        __resolveReference: (ref: Ref) => ({ ...ref, inStock: stock.get(ref.upc as string)?.inStock ?? null }),
        shippingEstimate: ({ price, weight }: { price?: number | null; weight?: number | null }) => {
          if (price == null || weight == null) return null;
          return price > FREE_SHIPPING_ABOVE_PRICE ? 0 : Math.trunc(weight / 2);
        },
      },
    },
    reviews: {
      Review: {
        __resolveReference: (ref: Ref) => reviews.get(ref.id as string) ?? null,
        product: (review: BenchReview) => ({ upc: review.productUpc }),
        author: () => REVIEW_AUTHOR,
      },
      User: {
        __resolveReference: (ref: Ref) => ref,
        reviews: () => userReviews,
      },
      Product: {
        __resolveReference: (ref: Ref) => ref,
        reviews: (product: { upc: string }) => reviewsOfProduct.get(product.upc) ?? [],
      },
    },
  };
}

/** The executable schema of each subgraph. */
export function buildBenchSchemas(data: BenchData = loadBenchData()): Record<BenchSubgraph, GraphQLSchema> {
  const resolvers = benchResolvers(data);
  return Object.fromEntries(
    BENCH_SUBGRAPHS.map((name) => [name, buildSubgraphSchema({ typeDefs: parse(TYPE_DEFS[name]), resolvers: resolvers[name] })]),
  ) as Record<BenchSubgraph, GraphQLSchema>;
}

/** A supergraph SDL in a comparable form (types and fields sorted, printed by graphql-js). */
function normalised(sdl: string): string {
  return printSchema(lexicographicSortSchema(buildSchema(sdl)));
}

/**
 * Composes our four subgraphs and compares the result with the published supergraph (both routed
 * to `origin`); throws with both texts when they differ.
 */
export function checkComposition(origin = PUBLISHED_ORIGIN): void {
  const result = composeServices(
    BENCH_SUBGRAPHS.map((name) => ({ name, url: `${origin}/${name}`, typeDefs: parse(TYPE_DEFS[name]) })),
  );
  if (result.errors) throw new Error(`The bench subgraphs do not compose:\n${result.errors.map((e) => e.message).join('\n')}`);
  const ours = normalised(result.supergraphSdl);
  const published = normalised(benchSupergraph(origin));
  if (ours !== published) throw new Error(`The bench subgraphs compose to another supergraph:\n--- ours\n${ours}\n--- published\n${published}`);
}

/** GET this path for the requests the subgraphs have answered so far (`SubgraphStats`). */
export const STATS_PATH = '/stats';
/** Requests served (all four subgraphs) and their body bytes, since the server started. */
export interface SubgraphStats {
  requests: number;
  requestBytes: number;
}

/** The running subgraphs' server. */
export interface RunningBenchSubgraphs {
  server: Server;
  port: number;
  origin: string;
  close(): Promise<void>;
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  sendText(res, status, JSON.stringify(body));
}

/** Serves the four subgraphs on one port (0: any free one) of 127.0.0.1. */
export async function startBenchSubgraphs(options: { port?: number; host?: string; data?: BenchData } = {}): Promise<RunningBenchSubgraphs> {
  const schemas = buildBenchSchemas(options.data);
  // Parsed and validated once per subgraph and operation text; a gateway sends a handful of distinct texts.
  const documents = new Map<string, DocumentNode>();
  const documentFor = (name: BenchSubgraph, query: string): DocumentNode | Error => {
    const key = `${name}\n${query}`;
    let document = documents.get(key);
    if (!document) {
      try {
        document = parse(query);
      } catch (error) {
        return error as Error;
      }
      const errors = validate(schemas[name], document);
      if (errors.length > 0) return errors[0];
      documents.set(key, document);
    }
    return document;
  };
  const answers = new Map<string, string>();
  const stats: SubgraphStats = { requests: 0, requestBytes: 0 };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method === 'GET' && req.url === STATS_PATH) return send(res, 200, stats);
    const name = req.url?.slice(1).split('?')[0] as BenchSubgraph;
    if (!Object.hasOwn(schemas, name) || req.method !== 'POST') return send(res, 404, { error: 'not found' });
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const bytes = Buffer.concat(chunks);
    stats.requests += 1;
    stats.requestBytes += bytes.length;
    const text = bytes.toString('utf8');
    const cacheKey = `${name}\n${text}`;
    const known = answers.get(cacheKey);
    if (known !== undefined) return sendText(res, 200, known);
    let body: { query?: unknown; variables?: Record<string, unknown>; operationName?: string };
    try {
      body = JSON.parse(text);
    } catch {
      return send(res, 400, { errors: [{ message: 'The body is not valid JSON.' }] });
    }
    if (typeof body.query !== 'string') return send(res, 400, { errors: [{ message: 'No query.' }] });
    const document = documentFor(name, body.query);
    if (document instanceof Error) return send(res, 400, { errors: [{ message: document.message }] });
    const result = await execute({
      schema: schemas[name],
      document,
      variableValues: body.variables,
      operationName: body.operationName,
      contextValue: {},
    });
    const answer = JSON.stringify(result);
    if (!result.errors && answers.size < RESPONSE_CACHE_ENTRIES) answers.set(cacheKey, answer);
    sendText(res, 200, answer);
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, { errors: [{ message: String(error) }] });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 120_000;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolveListen());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    origin: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolveClose) => {
        server.close(() => resolveClose());
        server.closeAllConnections();
      }),
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const portIndex = process.argv.indexOf('--port');
  const running = await startBenchSubgraphs({ port: portIndex > 0 ? Number(process.argv[portIndex + 1]) : 4200 });
  console.log(`ready ${running.port}`);
  const stop = () => void running.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
