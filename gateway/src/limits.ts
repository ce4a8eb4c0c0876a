/**
 * Abuse limits on GraphQL operations, enforced by the gateway before anything is executed, and
 * on what it answers.
 *
 * - document size: the operation text's UTF-8 bytes, checked before parsing;
 * - depth: the deepest field nesting of an operation, counted through fragments (not inside
 *   introspection's `__schema`/`__type`);
 * - aliases: the aliased fields in the document;
 * - cost: every field costs 1, and a paged field (one taking `first`/`last`, or returning a
 *   `…Connection`) multiplies the cost of its sub-selection by its page size as the server will
 *   read it: variables coerced with their defaults, and `DEFAULT_PAGE_SIZE` when none is given;
 * - response size: the JSON of one answer (an HTTP response, a graphql-ws result or subscription
 *   event), counted when it is ready and replaced by the refusal when over the limit (a mutation's
 *   effect stands; only its answer is refused).
 *
 * Depth, aliases and cost are graphql-js validation rules (`queryLimitRules`), so the HTTP
 * pipeline (through `queryLimitsPlugin`) and the graphql-ws server run the same checks, and both
 * measure answers with `responseSizeError`. Every refusal is a GraphQLError with
 * `extensions.code: 'BAD_USER_INPUT'` (the client must ask for less) and `extensions.limit`
 * naming the limit; over HTTP its status is 400.
 */
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import {
  GraphQLError,
  Kind,
  getArgumentValues,
  getNamedType,
  getVariableValues,
  isInterfaceType,
  isObjectType,
  validate,
  type ASTNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLNamedType,
  type NamedTypeNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';
import { ErrorCode } from '@chat/shared/errors';
import { DEFAULT_PAGE_SIZE } from '@chat/shared/pagination';
import { jsonByteLength } from './json-size';

/** `extensions.code` of every limit refusal (the contract's code for a request the client must change). */
export const LIMIT_ERROR_CODE = ErrorCode.BAD_USER_INPUT;
/** HTTP status of a limit refusal. */
export const LIMIT_HTTP_STATUS = 400;
/**
 * Introspection entry points whose sub-selections are left out of the depth (GraphiQL's standard
 * introspection query nests 15 levels through `ofType`); the cost limit still bounds them.
 */
export const DEPTH_EXEMPT_FIELDS: readonly string[] = ['__schema', '__type'];
/** The arguments whose value multiplies the cost of a field's sub-selection. */
export const PAGE_SIZE_ARGUMENTS: readonly string[] = ['first', 'last'];
/** The type-name ending of a Relay connection: a field returning one is paged even without page arguments. */
export const CONNECTION_TYPE_SUFFIX = 'Connection';

/** The limits, each a maximum (see the module comment for what is counted). */
export interface QueryLimits {
  /** Deepest field nesting (a top-level field is depth 1). */
  readonly maxDepth: number;
  /** Aliased fields in one document. */
  readonly maxAliases: number;
  /** Total field cost. */
  readonly maxCost: number;
  /** Operation text size in UTF-8 bytes. */
  readonly maxDocumentBytes: number;
  /** One answer's JSON in UTF-8 bytes (a response, or a subscription event). */
  readonly maxResponseBytes: number;
}

/** The defaults (also those of `loadConfig`). */
export const DEFAULT_QUERY_LIMITS: QueryLimits = { maxDepth: 12, maxAliases: 30, maxCost: 5000, maxDocumentBytes: 20_000, maxResponseBytes: 8 * 1024 * 1024 };

/** Which limit an error refuses; carried as `extensions.limit`. */
export type LimitName = 'depth' | 'aliases' | 'cost' | 'documentSize' | 'responseSize';

function limitError(limit: LimitName, message: string, node?: ASTNode): GraphQLError {
  return new GraphQLError(message, { nodes: node ? [node] : undefined, extensions: { code: LIMIT_ERROR_CODE, limit } });
}

/** The refusal of an operation text longer than `maxBytes`, or undefined. Cheap: call it before parsing. */
export function documentSizeError(source: string, maxBytes: number): GraphQLError | undefined {
  // Each UTF-16 unit is at most 3 UTF-8 bytes: skip counting short texts.
  if (source.length * 3 <= maxBytes) return undefined;
  const bytes = Buffer.byteLength(source, 'utf8');
  if (bytes <= maxBytes) return undefined;
  return limitError('documentSize', `The operation is ${bytes} bytes; at most ${maxBytes} are allowed.`);
}

/** The refusal of an answer (an execution result) whose JSON is over `maxBytes`, or undefined. Stops counting at the limit. */
export function responseSizeError(result: unknown, maxBytes: number): GraphQLError | undefined {
  if (jsonByteLength(result, maxBytes) <= maxBytes) return undefined;
  return limitError('responseSize', `The response is over ${maxBytes} bytes; at most ${maxBytes} are allowed: ask for fewer fields or smaller pages.`);
}

/** What a field folds into: its node, its definition (undefined for introspection's), and its sub-selection's value. */
type FieldFolder = (node: FieldNode, definition: GraphQLField<unknown, unknown> | undefined, child: number) => number;

/** The definition of field `name` on `parent`, if `parent` has fields and it is one of them. */
function fieldDefinition(parent: GraphQLNamedType | undefined, name: string): GraphQLField<unknown, unknown> | undefined {
  return isObjectType(parent) || isInterfaceType(parent) ? parent.getFields()[name] : undefined;
}

/**
 * Walks an operation's selections, fragments included, folding each field with
 * `field(node, definition, childValue)` and siblings with `combine`. Each fragment's value is
 * computed once (memoised), so fragments spread many times cost no extra work; a fragment cycle
 * contributes `empty` (the specified NoFragmentCycles rule refuses such a document anyway).
 */
function foldSelections(
  context: ValidationContext,
  empty: number,
  combine: (a: number, b: number) => number,
  field: FieldFolder,
): (operation: OperationDefinitionNode) => number {
  const schema = context.getSchema();
  const memo = new Map<string, number>();
  const visiting = new Set<string>();
  const typeNamed = (condition: NamedTypeNode | undefined, otherwise: GraphQLNamedType | undefined) =>
    condition ? schema.getType(condition.name.value) ?? undefined : otherwise;
  const fragment = (definition: FragmentDefinitionNode): number => {
    const name = definition.name.value;
    const known = memo.get(name);
    if (known !== undefined) return known;
    if (visiting.has(name)) return empty;
    visiting.add(name);
    const value = walk(definition.selectionSet, typeNamed(definition.typeCondition, undefined));
    visiting.delete(name);
    memo.set(name, value);
    return value;
  };
  const walk = (set: SelectionSetNode, parent: GraphQLNamedType | undefined): number => {
    let value = empty;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        const definition = fieldDefinition(parent, selection.name.value);
        const child = selection.selectionSet ? walk(selection.selectionSet, definition && getNamedType(definition.type)) : empty;
        value = combine(value, field(selection, definition, child));
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        value = combine(value, walk(selection.selectionSet, typeNamed(selection.typeCondition, parent)));
      } else {
        const definition = context.getFragment(selection.name.value);
        if (definition) value = combine(value, fragment(definition));
      }
    }
    return value;
  };
  return (operation) => walk(operation.selectionSet, schema.getRootType(operation.operation) ?? undefined);
}

/** Refuses operations nested deeper than `max` fields. */
export function maxDepthRule(max: number): ValidationRule {
  return (context) => ({
    OperationDefinition(node) {
      const depth = foldSelections(context, 0, Math.max, (field, _definition, child) => (DEPTH_EXEMPT_FIELDS.includes(field.name.value) ? 1 : 1 + child))(node);
      if (depth > max) {
        context.reportError(limitError('depth', `The operation is nested ${depth} levels deep; at most ${max} are allowed.`, node));
      }
    },
  });
}

/** Refuses documents with more than `max` aliased fields. */
export function maxAliasesRule(max: number): ValidationRule {
  return (context) => {
    let aliases = 0;
    return {
      Field(node) {
        if (node.alias) aliases += 1;
      },
      Document: {
        leave(node) {
          if (aliases > max) context.reportError(limitError('aliases', `The operation uses ${aliases} aliases; at most ${max} are allowed.`, node));
        },
      },
    };
  };
}

/**
 * Whether a field is a page of a list: it takes `first` or `last`, or it returns a Relay
 * connection (a type named `…Connection`). Such a field without a page size still returns
 * the server's default page (`DEFAULT_PAGE_SIZE` rows), so that is what it counts for.
 */
export function isPagedField(definition: GraphQLField<unknown, unknown>): boolean {
  return definition.args.some((argument) => PAGE_SIZE_ARGUMENTS.includes(argument.name)) || getNamedType(definition.type).name.endsWith(CONNECTION_TYPE_SUFFIX);
}

/**
 * How many times a field's sub-selection is counted: its `first`/`last` as the server will read
 * them (variables coerced, defaults applied, the larger if both are given), the default page size
 * for a paged field given neither, 1 for any other field (and at least 1).
 */
function pageMultiplier(node: FieldNode, definition: GraphQLField<unknown, unknown> | undefined, variables: Readonly<Record<string, unknown>>): number {
  if (!definition) return 1;
  let values: Record<string, unknown>;
  try {
    values = getArgumentValues(definition, node, variables);
  } catch {
    values = {}; // an invalid argument is refused before execution anyway
  }
  const sizes = PAGE_SIZE_ARGUMENTS.map((name) => values[name]).filter((size): size is number => typeof size === 'number' && Number.isFinite(size));
  if (sizes.length === 0) return isPagedField(definition) ? DEFAULT_PAGE_SIZE : 1;
  return Math.max(1, ...sizes);
}

/** The operation's variables as execution will see them: coerced, defaults applied (none if they do not coerce). */
function coercedVariables(context: ValidationContext, operation: OperationDefinitionNode, raw: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const coerced = getVariableValues(context.getSchema(), operation.variableDefinitions ?? [], raw);
  // Variables that do not coerce are refused before execution; counted as absent meanwhile.
  return coerced.coerced ?? {};
}

/**
 * Refuses operations whose cost exceeds `max`: each field costs 1 plus its sub-selection's cost
 * times its page size (see `pageMultiplier`). `variables` are the request's, as the client sent them.
 */
export function maxCostRule(max: number, variables: Readonly<Record<string, unknown>> = {}): ValidationRule {
  return (context) => ({
    OperationDefinition(node) {
      const values = coercedVariables(context, node, variables);
      const cost = foldSelections(context, 0, (a, b) => a + b, (field, definition, child) => 1 + pageMultiplier(field, definition, values) * child)(
        node,
      );
      if (cost > max) context.reportError(limitError('cost', `The operation costs ${cost}; at most ${max} is allowed.`, node));
    },
  });
}

/** The depth, alias and cost rules for one request (`variables` are its variables). */
export function queryLimitRules(limits: QueryLimits, variables?: Readonly<Record<string, unknown>> | null): ValidationRule[] {
  return [maxDepthRule(limits.maxDepth), maxAliasesRule(limits.maxAliases), maxCostRule(limits.maxCost, variables ?? {})];
}

/** The error Apollo Server sends for a refusal: the same, plus its HTTP status. */
function forHttp(error: GraphQLError): GraphQLError {
  return new GraphQLError(error.message, {
    nodes: error.nodes,
    extensions: { ...error.extensions, http: { status: LIMIT_HTTP_STATUS } },
  });
}

/** BAD_USER_INPUT for an operation the gateway cannot select or run over HTTP. */
function badOperation(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: ErrorCode.BAD_USER_INPUT } });
}

/** What the pipeline carries on in place of an oversized text, so that text is never parsed. */
export const OVERSIZED_PLACEHOLDER = '{ __typename }';

/**
 * Enforces the limits in Apollo Server. An oversized text is swapped for a placeholder as the
 * request starts (before parsing; a hook there cannot answer with a 400) and refused once the
 * operation is resolved; depth, aliases and cost are checked then too, before execution, on
 * cached documents as well. An answer over the size limit is replaced by its refusal (status 400).
 */
export function queryLimitsPlugin<TContext extends BaseContext>(limits: QueryLimits): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart({ request }) {
      const tooLarge = typeof request.query === 'string' ? documentSizeError(request.query, limits.maxDocumentBytes) : undefined;
      if (tooLarge) {
        request.query = OVERSIZED_PLACEHOLDER;
        request.operationName = undefined;
        request.extensions = undefined;
      }
      return {
        async didResolveOperation({ schema, document, operation }) {
          if (tooLarge) throw forHttp(tooLarge);
          // The gateway cannot run these; unrefused, it would answer them with a 500.
          if (!operation) {
            throw forHttp(badOperation(request.operationName ? `There is no operation named "${request.operationName}" in the document.` : 'The document holds several operations: name one with operationName.'));
          }
          if (operation.operation === 'subscription') {
            throw forHttp(badOperation('Subscriptions are served over graphql-ws (WebSocket) on this path, not over HTTP.'));
          }
          const [error] = validate(schema, document, queryLimitRules(limits, request.variables));
          if (error) throw forHttp(error);
        },
        // Synchronous on purpose: it runs before the other plugins' hooks see the answer.
        async willSendResponse({ response }) {
          if (response.body.kind !== 'single') return;
          const tooLarge = responseSizeError(response.body.singleResult, limits.maxResponseBytes);
          if (!tooLarge) return;
          response.body.singleResult = { errors: [tooLarge.toJSON()] };
          response.http.status = LIMIT_HTTP_STATUS;
        },
      };
    },
  };
}
