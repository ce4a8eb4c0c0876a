/**
 * The gateway's subgraph data source: @apollo/gateway's RemoteGraphQLDataSource (which keeps
 * doing the request building, `willSendRequest`, error and cache-control handling) with three
 * changes to how requests travel:
 *
 * - HTTP goes over a keep-alive `node:http` pool instead of make-fetch-happen (fetcher.ts);
 * - each distinct entity representation is sent once per fetch: the query planner sends one per
 *   occurrence in the response (the same product under every review of it), so duplicates are
 *   removed before sending and the `_entities` answer, and its errors, expanded back to one entry
 *   per original representation, in the original order (`dedupeRepresentations`,
 *   `expandEntitiesResponse`);
 * - identical queries in flight at the same time share one round trip (`shareInflight`: same
 *   URL, body and headers, so the same authorization and client address; each gets its own copy).
 *   Mutations, and anything not recognisably a single query operation, are never shared.
 */
import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { Kind, parse, type DocumentNode } from 'graphql';
import { createSubgraphRequester, fetcherOver, shareInflight, type SubgraphFetcher } from './fetcher';

/** What `process` answers (@apollo/server-gateway-interface's GatewayGraphQLResponse). */
export type SubgraphResponseBody = Awaited<ReturnType<RemoteGraphQLDataSource['process']>>;

/** The variable the query planner puts entity representations in (the `_entities` argument). */
export const REPRESENTATIONS_VARIABLE = 'representations';
/** The root field entity fetches select, and the first element of their errors' paths. */
export const ENTITIES_FIELD = '_entities';
/** Distinct subgraph operation texts whose kind (query or not) is remembered; the planner makes a bounded set. */
export const OPERATION_KIND_CACHE_ENTRIES = 2_000;

/** Representations without duplicates, and where each original one went. */
export interface DedupedRepresentations {
  /** Each distinct representation once, in order of first occurrence. */
  unique: unknown[];
  /** For representation i of the original list, its index in `unique`. */
  positions: number[];
}

/**
 * A string that two representations share only if their JSON is the same (and do share when it
 * is, but for values JSON writes as something else, such as NaN: those only miss deduplication).
 * For the usual flat object (`{ __typename, upc }`) it is built without JSON: each field as `name:`
 * then `s<length>:<text>` for a string or `n<number>;`/`b<boolean>;`, which reads back one way only
 * (GraphQL names hold no `:`); anything else is `{` followed by its JSON, which no flat key starts with.
 */
export function representationKey(representation: unknown): string {
  if (representation === null || typeof representation !== 'object' || Array.isArray(representation)) return `{${JSON.stringify(representation)}`;
  let key = '';
  for (const name of Object.keys(representation)) {
    const value = (representation as Record<string, unknown>)[name];
    if (typeof value === 'string') key += `${name}:s${value.length}:${value}`;
    else if (typeof value === 'number') key += `${name}:n${value};`;
    else if (typeof value === 'boolean') key += `${name}:b${value};`;
    else return `{${JSON.stringify(representation)}`;
  }
  return key;
}

/** Removes duplicate representations (equal JSON; the planner builds them with a fixed key order). */
export function dedupeRepresentations(representations: readonly unknown[]): DedupedRepresentations {
  const indexByKey = new Map<string, number>();
  const unique: unknown[] = [];
  const positions = new Array<number>(representations.length);
  for (let i = 0; i < representations.length; i += 1) {
    const key = representationKey(representations[i]);
    let index = indexByKey.get(key);
    if (index === undefined) {
      index = unique.length;
      indexByKey.set(key, index);
      unique.push(representations[i]);
    }
    positions[i] = index;
  }
  return { unique, positions };
}

/** A deep copy of a JSON value. */
export function cloneJson<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(cloneJson) as T;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) copy[key] = cloneJson((value as Record<string, unknown>)[key]);
  return copy as T;
}

type ResponseError = NonNullable<SubgraphResponseBody['errors']>[number];

/**
 * Turns the answer to deduplicated representations back into the answer to the original ones:
 * `_entities[i]` becomes the entity of original representation i (the first occurrence keeps the
 * parsed object, later ones get copies, since the gateway merges entities into its result in
 * place), and an error at `_entities.<j>...` is repeated at each original index mapped to j, as
 * the subgraph would have reported it once per duplicate. Other errors pass as they are. An
 * `_entities` of the wrong shape is left alone for the gateway to refuse, as before.
 */
export function expandEntitiesResponse(response: SubgraphResponseBody, positions: readonly number[], uniqueCount: number): SubgraphResponseBody {
  let result = response;
  const entities = response.data?.[ENTITIES_FIELD];
  if (Array.isArray(entities) && entities.length === uniqueCount) {
    const handedOut = new Array<boolean>(uniqueCount).fill(false);
    const expanded = positions.map((j) => {
      if (handedOut[j]) return cloneJson(entities[j]);
      handedOut[j] = true;
      return entities[j];
    });
    result = { ...result, data: { ...response.data, [ENTITIES_FIELD]: expanded } };
  }
  if (response.errors?.length) {
    const otherErrors: ResponseError[] = [];
    const entityErrors: { index: number; error: ResponseError }[] = [];
    for (const error of response.errors) {
      const path = error.path;
      if (path?.[0] !== ENTITIES_FIELD || typeof path[1] !== 'number') {
        otherErrors.push(error);
        continue;
      }
      positions.forEach((j, index) => {
        if (j === path[1]) entityErrors.push({ index, error: { ...error, path: [ENTITIES_FIELD, index, ...path.slice(2)] } as ResponseError });
      });
    }
    // In the order of the original representations, as the subgraph would have listed them.
    entityErrors.sort((a, b) => a.index - b.index);
    result = { ...result, errors: [...otherErrors, ...entityErrors.map((e) => e.error)] };
  }
  return result;
}

const operationKinds = new Map<string, boolean>();

/** Whether a subgraph operation text is exactly one query operation (remembered per text). */
export function isQueryOperation(query: string | undefined): boolean {
  if (!query) return false;
  let known = operationKinds.get(query);
  if (known === undefined) {
    let document: DocumentNode | undefined;
    try {
      document = parse(query, { noLocation: true });
    } catch {
      document = undefined;
    }
    const operations = document?.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION) ?? [];
    known = operations.length === 1 && operations[0].kind === Kind.OPERATION_DEFINITION && operations[0].operation === 'query';
    if (operationKinds.size >= OPERATION_KIND_CACHE_ENTRIES) operationKinds.clear();
    operationKinds.set(query, known);
  }
  return known;
}

/** The data source the gateway builds for each subgraph (see the module comment); `TContext` bound as RemoteGraphQLDataSource's. */
export class SubgraphDataSource<TContext extends Record<string, any> = Record<string, any>> extends RemoteGraphQLDataSource<TContext> {
  /** This data source with the sharing fetcher: what queries go through; undefined with a caller's own fetcher. */
  private readonly sharing?: RemoteGraphQLDataSource<TContext>;

  constructor(config?: ConstructorParameters<typeof RemoteGraphQLDataSource<TContext>>[0]) {
    super(config);
    if (!config?.fetcher) {
      const requester = createSubgraphRequester();
      this.fetcher = fetcherOver(requester);
      const sharingFetcher: SubgraphFetcher = fetcherOver(shareInflight(requester));
      // The same object in every respect (its prototype), but for the fetcher.
      this.sharing = Object.create(this, { fetcher: { value: sharingFetcher } }) as RemoteGraphQLDataSource<TContext>;
    }
  }

  override async process(options: GraphQLDataSourceProcessOptions<TContext>): Promise<SubgraphResponseBody> {
    const representations: unknown = options.request.variables?.[REPRESENTATIONS_VARIABLE];
    if (Array.isArray(representations) && representations.length > 1) {
      const { unique, positions } = dedupeRepresentations(representations);
      if (unique.length < representations.length) {
        const request = { ...options.request, variables: { ...options.request.variables, [REPRESENTATIONS_VARIABLE]: unique } };
        return expandEntitiesResponse(await this.send({ ...options, request }), positions, unique.length);
      }
    }
    return this.send(options);
  }

  private send(options: GraphQLDataSourceProcessOptions<TContext>): Promise<SubgraphResponseBody> {
    // Only operations of a client's request (not health checks or schema loading), and only queries.
    const shareable = this.sharing && 'incomingRequestContext' in options && isQueryOperation(options.request.query);
    return super.process.call(shareable ? this.sharing : this, options);
  }
}
