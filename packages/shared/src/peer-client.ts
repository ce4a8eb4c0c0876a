/**
 * Typed calls from one subgraph to another. Each call is an operation of a `.graphql` file in the
 * caller's `peers/` folder, generated into a TypedDocumentNode (codegen.ts) and validated against
 * the peer's own schema, so variables and data are typed at the call site. Each call is signed
 * with the calling service's key for that peer, vouching for the user it acts for (service-auth.ts):
 * the peer believes the user because the service says so, and no user's token travels.
 */
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { GraphQLError, print, type DocumentNode } from 'graphql';
import type { SubgraphName } from './config';
import { ErrorCode } from './errors';
import { SERVICE_TOKEN_HEADER, type ActingFor, type ServiceSigner } from './service-auth';

/**
 * Whom a call acts for: the user behind the request that makes it (its context's `viewer`), or the
 * user a job or background task stored (id and role); null for nobody.
 */
export type CallIdentity = ActingFor | null;

/** How one call is made. */
export interface CallOptions {
  actingFor: CallIdentity;
}

/** A client of one peer subgraph. */
export interface PeerClient {
  /** The data of the operation's answer; throws the first GraphQL error, keeping its code. */
  call<TData, TVariables>(document: TypedDocumentNode<TData, TVariables>, variables: TVariables, options: CallOptions): Promise<TData>;
}

/** The headers that say who calls and for whom: the caller's service token for `target`, naming the user (id and role only). */
async function identityHeaders(signer: ServiceSigner, target: SubgraphName, user: CallIdentity): Promise<Record<string, string>> {
  return { [SERVICE_TOKEN_HEADER]: await signer.token(target, user ? { id: user.id, role: user.role } : undefined) };
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

/** A client for the peer subgraph `target` at `url`, signing with `signer` (HTTP keep-alive comes with Node's fetch). */
export function createPeerClient(url: string, target: SubgraphName, signer: ServiceSigner): PeerClient {
  return {
    async call<TData, TVariables>(document: TypedDocumentNode<TData, TVariables>, variables: TVariables, options: CallOptions): Promise<TData> {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(await identityHeaders(signer, target, options.actingFor)) },
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

/** One client for each of the named peers, at their configured URLs, signing as the calling service. */
export function createPeerClients<Name extends SubgraphName>(urls: Record<SubgraphName, string>, names: readonly Name[], signer: ServiceSigner): Record<Name, PeerClient> {
  return Object.fromEntries(names.map((name) => [name, createPeerClient(urls[name], name, signer)])) as Record<Name, PeerClient>;
}
