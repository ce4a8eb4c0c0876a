/**
 * The answer to the scenario's TestQuery, computed straight from data.json by the scenario's rules,
 * without GraphQL: what every gateway's response is compared with. Field order follows the query
 * (fragments User = id username name, Review = id body, Product = inStock name price
 * shippingEstimate upc weight), so a correct gateway's JSON text equals JSON.stringify of this.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  FREE_SHIPPING_ABOVE_PRICE,
  REVIEW_AUTHOR,
  SCENARIO_DIR,
  TOP_PRODUCTS_DEFAULT,
  USER_REVIEW_IDS,
  loadBenchData,
  type BenchData,
  type BenchProduct,
  type BenchReview,
  type BenchUser,
} from './subgraphs';

/** The operation every request sends. */
export function testQuery(): string {
  return readFileSync(resolve(SCENARIO_DIR, 'TestQuery.graphql'), 'utf8');
}

/** `{ data: ... }` as the TestQuery must answer over `data`. */
export function expectedTestQueryResult(data: BenchData = loadBenchData()): { data: Record<string, unknown> } {
  const find = <T>(rows: T[], match: (row: T) => boolean): T => {
    const row = rows.find(match);
    if (!row) throw new Error('data.json is missing a record the rules refer to');
    return row;
  };
  const product = (upc: string): BenchProduct => find(data.products, (p) => p.upc === upc);
  const userReviews = (): BenchReview[] => USER_REVIEW_IDS.map((id) => find(data.reviews, (r) => r.id === id));
  const productReviews = (upc: string): BenchReview[] => data.reviews.filter((r) => r.productUpc === upc);
  const author = (): BenchUser => find(data.users, (u) => u.id === REVIEW_AUTHOR.id);

  const user = (u: Pick<BenchUser, 'id' | 'username' | 'name'>) => ({ id: u.id, username: u.username, name: u.name });
  const review = (r: BenchReview) => ({ id: r.id, body: r.body });
  const productFields = (p: BenchProduct) => ({
    inStock: find(data.inventory, (i) => i.upc === p.upc).inStock,
    name: p.name,
    price: p.price,
    shippingEstimate: p.price > FREE_SHIPPING_ABOVE_PRICE ? 0 : Math.trunc(p.weight / 2),
    upc: p.upc,
    weight: p.weight,
  });
  // author { ...User reviews { ...Review product { ...Product } } }, the author's username as reviews provides it.
  const reviewAuthor = () => ({
    ...user({ ...author(), username: REVIEW_AUTHOR.username }),
    reviews: userReviews().map((r) => ({ ...review(r), product: productFields(product(r.productUpc)) })),
  });
  // ...Product reviews { ...Review author { ... } }
  const productWithReviews = (p: BenchProduct) => ({
    ...productFields(p),
    reviews: productReviews(p.upc).map((r) => ({ ...review(r), author: reviewAuthor() })),
  });
  return {
    data: {
      users: data.users.map((u) => ({
        ...user(u),
        reviews: userReviews().map((r) => ({ ...review(r), product: productWithReviews(product(r.productUpc)) })),
      })),
      topProducts: data.products.slice(0, TOP_PRODUCTS_DEFAULT).map(productWithReviews),
    },
  };
}
