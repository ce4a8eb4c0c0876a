/** Small helpers shared by the end-to-end tests: error assertions and the common mutations. */
import { expect } from '@jest/globals';
import type { GqlResponse, TestSystem } from '../support/system';

/** The `extensions.code` of every error in a response. */
export function errorCodes(res: GqlResponse): string[] {
  return (res.errors ?? []).map((e) => String(e.extensions?.code));
}

/** The response failed with `code` (and, when given, a message naming `field`), never as a server error. */
export function expectError(res: GqlResponse, code: string, field?: string): void {
  expect(res.status).toBeLessThan(500);
  expect(errorCodes(res)).toContain(code);
  if (field !== undefined) {
    const error = res.errors!.find((e) => e.extensions?.code === code)!;
    expect(error.message).toContain(field);
  }
}

/** The response succeeded without any error. */
export function expectOk<T>(res: GqlResponse<T>): T {
  expect({ status: res.status, errors: res.errors ?? [] }).toEqual({ status: 200, errors: [] });
  return res.data as T;
}

/** Base64url of a JSON sort key: a cursor as the servers encode them, for forging ones. */
export function forgeCursor(key: unknown): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export const CHARACTER_FIELDS = /* GraphQL */ `
  id name description personality scenario greeting exampleDialogue systemPrompt tags visibility createdAt updatedAt owner { id }`;

/** Creates a character as `token`; fails the test when refused. */
export async function createCharacter(t: TestSystem, token: string, input: Record<string, unknown>): Promise<any> {
  const res = await t.gql(`mutation($input: CharacterInput!) { createCharacter(input: $input) { ${CHARACTER_FIELDS} } }`, { input }, token);
  return expectOk(res).createCharacter;
}

/** Starts a conversation as `token`; fails the test when refused. */
export async function startConversation(t: TestSystem, token: string, characterId: string, extra: Record<string, unknown> = {}): Promise<any> {
  const res = await t.gql(
    `mutation($input: StartConversationInput!) { startConversation(input: $input) { id title status tags lastActivityAt } }`,
    { input: { characterId, ...extra } },
    token,
  );
  return expectOk(res).startConversation;
}

/** Ids of every conversation in the caller's list (one page of up to 100). */
export async function myConversationIds(t: TestSystem, token: string): Promise<string[]> {
  const res = await t.gql(`{ me { conversations(first: 100) { edges { node { id } } } } }`, {}, token);
  return expectOk(res).me.conversations.edges.map((e: any) => e.node.id);
}

/** One page of a connection, as the tests select it. */
export interface Page {
  edges: Array<{ cursor: string; node: any }>;
  pageInfo: { hasNextPage: boolean; endCursor: string | null; hasPreviousPage?: boolean; startCursor?: string | null };
}

/** Reads a whole connection page by page, each from the previous page's endCursor; returns the pages. */
export async function readAllPages(fetchPage: (after: string | null) => Promise<Page>, maxPages = 50): Promise<Page[]> {
  const pages: Page[] = [];
  let after: string | null = null;
  for (let i = 0; i < maxPages; i++) {
    const page = await fetchPage(after);
    pages.push(page);
    if (!page.pageInfo.hasNextPage) return pages;
    expect(page.pageInfo.endCursor).toBe(page.edges.at(-1)?.cursor);
    after = page.pageInfo.endCursor;
  }
  throw new Error(`more than ${maxPages} pages`);
}

/** How long a describe block's system may take to start: embedded PGlite is slow on a busy machine. */
export const START_TIMEOUT_MS = 120_000;
