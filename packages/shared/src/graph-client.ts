import { GraphQLError } from 'graphql';
import { ErrorCode } from './errors';

/** Sends GraphQL to another subgraph over HTTP, on behalf of a caller. */
export interface GraphClient {
  /** The data of the response; throws the first GraphQL error, keeping its code. */
  request<T>(query: string, variables?: Record<string, unknown>, options?: { authorization?: string }): Promise<T>;
}

/** A client for one subgraph URL (HTTP keep-alive comes with Node's fetch). */
export function createGraphClient(url: string): GraphClient {
  return {
    async request<T>(query: string, variables: Record<string, unknown> = {}, options: { authorization?: string } = {}) {
      const response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(options.authorization ? { authorization: options.authorization } : {}),
        },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await response.json().catch(() => null)) as { data?: T; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> } | null;
      const first = body?.errors?.[0];
      if (first) throw new GraphQLError(first.message, { extensions: { ...first.extensions, code: first.extensions?.code ?? ErrorCode.INTERNAL_SERVER_ERROR } });
      if (!response.ok || !body?.data) {
        throw new GraphQLError(`A service did not answer (${response.status}).`, { extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR } });
      }
      return body.data;
    },
  };
}
