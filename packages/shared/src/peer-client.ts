/**
 * Typed calls from one subgraph to another. Each call is an operation of a `.graphql` file in the
 * caller's `peers/` folder, generated into a TypedDocumentNode (codegen.ts) and validated against
 * the peer's own schema, so variables and data are typed at the call site.
 */
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { GraphQLError, print, type DocumentNode } from 'graphql';
import type { SubgraphName } from './config';
import { ErrorCode } from './errors';
import type { RequestIdentity } from './subgraph';

/** Whom a call acts for: the user behind the request (or job) that makes it. */
export type CallIdentity = Pick<RequestIdentity, 'authorization'>;

/** How one call is made. */
export interface CallOptions {
  actingFor: CallIdentity;
}

/** A client of one peer subgraph. */
export interface PeerClient {
  /** The data of the operation's answer; throws the first GraphQL error, keeping its code. */
  call<TData, TVariables>(document: TypedDocumentNode<TData, TVariables>, variables: TVariables, options: CallOptions): Promise<TData>;
}

/**
 * The headers that say whom a call acts for. Today the user's own Authorization travels as it
 * came; signing calls with a service identity changes this one function.
 */
function identityHeaders(actingFor: CallIdentity): Record<string, string> {
  return actingFor.authorization ? { authorization: actingFor.authorization } : {};
}

// Documents are module constants: each is printed once, not on every call.
const printed = new WeakMap<DocumentNode, string>();
function queryText(document: DocumentNode): string {
  let text = printed.get(document);
  if (text === undefined) {
    text = print(document);
    printed.set(document, text);
  }
  return text;
}

/** A client for the peer subgraph at `url` (HTTP keep-alive comes with Node's fetch). */
export function createPeerClient(url: string): PeerClient {
  return {
    async call<TData, TVariables>(document: TypedDocumentNode<TData, TVariables>, variables: TVariables, options: CallOptions): Promise<TData> {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...identityHeaders(options.actingFor) },
        body: JSON.stringify({ query: queryText(document), variables }),
      });
      const body = (await response.json().catch(() => null)) as { data?: TData; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> } | null;
      const first = body?.errors?.[0];
      if (first) throw new GraphQLError(first.message, { extensions: { ...first.extensions, code: first.extensions?.code ?? ErrorCode.INTERNAL_SERVER_ERROR } });
      if (!response.ok || !body?.data) {
        throw new GraphQLError(`A service did not answer (${response.status}).`, { extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR } });
      }
      return body.data;
    },
  };
}

/** One client for each of the named peers, at their configured URLs. */
export function createPeerClients<Name extends SubgraphName>(urls: Record<SubgraphName, string>, names: readonly Name[]): Record<Name, PeerClient> {
  return Object.fromEntries(names.map((name) => [name, createPeerClient(urls[name])])) as Record<Name, PeerClient>;
}
