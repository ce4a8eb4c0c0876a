/**
 * Abuse limits on GraphQL operations, enforced by the gateway before anything is executed.
 *
 * - document size: the operation text's UTF-8 bytes, checked before parsing;
 * - depth: the deepest field nesting of an operation, counted through fragments (not inside
 *   introspection's `__schema`/`__type`);
 * - aliases: the aliased fields in the document;
 * - cost: every field costs 1, and a field with a `first` or `last` argument multiplies the
 *   cost of its sub-selection by that number (no argument: multiplier 1).
 *
 * Depth, aliases and cost are graphql-js validation rules (`queryLimitRules`), so the HTTP
 * pipeline (through `queryLimitsPlugin`) and the graphql-ws server run the same checks. Every
 * refusal is a GraphQLError with `extensions.code: 'BAD_USER_INPUT'` (HTTP status 400).
 */
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import {
  GraphQLError,
  Kind,
  validate,
  type ASTNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
  type ValueNode,
} from 'graphql';
import { ErrorCode } from '@chat/shared/errors';

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
}

/** The defaults (also those of `loadConfig`). */
export const DEFAULT_QUERY_LIMITS: QueryLimits = { maxDepth: 12, maxAliases: 30, maxCost: 5000, maxDocumentBytes: 20_000 };

/** Which limit an error refuses; carried as `extensions.limit`. */
export type LimitName = 'depth' | 'aliases' | 'cost' | 'documentSize';

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

/**
 * Walks a selection set, fragments included, folding each field with `field(name, args, childValue)`
 * and siblings with `combine`. Each fragment's value is computed once (memoised), so fragments
 * spread many times cost no extra work; a fragment cycle contributes `empty` (the specified
 * NoFragmentCycles rule refuses such a document anyway).
 */
function foldSelections(
  context: ValidationContext,
  empty: number,
  combine: (a: number, b: number) => number,
  field: (node: FieldNode, child: number) => number,
): (set: SelectionSetNode) => number {
  const memo = new Map<string, number>();
  const visiting = new Set<string>();
  const fragment = (definition: FragmentDefinitionNode): number => {
    const name = definition.name.value;
    const known = memo.get(name);
    if (known !== undefined) return known;
    if (visiting.has(name)) return empty;
    visiting.add(name);
    const value = walk(definition.selectionSet);
    visiting.delete(name);
    memo.set(name, value);
    return value;
  };
  const walk = (set: SelectionSetNode): number => {
    let value = empty;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        value = combine(value, field(selection, selection.selectionSet ? walk(selection.selectionSet) : empty));
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        value = combine(value, walk(selection.selectionSet));
      } else {
        const definition = context.getFragment(selection.name.value);
        if (definition) value = combine(value, fragment(definition));
      }
    }
    return value;
  };
  return walk;
}

/** Refuses operations nested deeper than `max` fields. */
export function maxDepthRule(max: number): ValidationRule {
  return (context) => ({
    OperationDefinition(node) {
      const depth = foldSelections(context, 0, Math.max, (field, child) => (DEPTH_EXEMPT_FIELDS.includes(field.name.value) ? 1 : 1 + child))(
        node.selectionSet,
      );
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

/** The integer a `first`/`last` argument holds (a literal or a variable), or undefined. */
function pageSize(value: ValueNode, variables: Readonly<Record<string, unknown>>): number | undefined {
  const raw = value.kind === Kind.INT ? Number(value.value) : value.kind === Kind.VARIABLE ? variables[value.name.value] : undefined;
  return typeof raw === 'number' && Number.isFinite(raw) && raw > 0 ? raw : undefined;
}

/**
 * Refuses operations whose cost exceeds `max`: each field costs 1 plus its sub-selection's
 * cost times its `first`/`last` argument (1 without one). `variables` resolves `first: $n`.
 */
export function maxCostRule(max: number, variables: Readonly<Record<string, unknown>> = {}): ValidationRule {
  return (context) => ({
    OperationDefinition(node) {
      const cost = foldSelections(context, 0, (a, b) => a + b, (field, child) => {
        let multiplier = 1;
        for (const argument of field.arguments ?? []) {
          if (PAGE_SIZE_ARGUMENTS.includes(argument.name.value)) multiplier = Math.max(multiplier, pageSize(argument.value, variables) ?? 1);
        }
        return 1 + multiplier * child;
      })(node.selectionSet);
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
 * cached documents as well.
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
      };
    },
  };
}
