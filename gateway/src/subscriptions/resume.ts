/**
 * Resuming a conversation's events from a cursor the transport carries (SSE's `Last-Event-ID`):
 * the subscription's `conversationEvents` field gets that cursor as its `after` argument.
 */
import { Kind, parse, print, visit, type ArgumentNode, type FieldNode } from 'graphql';

/** The subscription field whose events carry cursors. */
export const RESUMABLE_FIELD = 'conversationEvents';
/** Its argument naming the last cursor the client has. */
export const RESUME_ARGUMENT = 'after';

/** An operation as a client sends it. */
export interface ResumableOperation {
  readonly query: string;
  readonly variables?: Record<string, unknown> | null;
}

/**
 * The operation resuming after `cursor`: each top-level `conversationEvents` field's `after` is the
 * cursor (its variable set to it when it names one, else a literal); the operation as it is when
 * it does not parse (preparing it reports the syntax error).
 */
export function withResumeCursor<O extends ResumableOperation>(operation: O, cursor: string): O {
  let document;
  try {
    document = parse(operation.query);
  } catch {
    return operation;
  }
  const variables: Record<string, unknown> = { ...(operation.variables ?? {}) };
  let depth = 0;
  const resumed = visit(document, {
    SelectionSet: {
      enter: () => void (depth += 1),
      leave: () => void (depth -= 1),
    },
    Field: {
      leave(field: FieldNode) {
        // Only root fields: depth is 1 inside the operation's own selection set.
        if (depth !== 1 || field.name.value !== RESUMABLE_FIELD) return undefined;
        const given = field.arguments?.find((a) => a.name.value === RESUME_ARGUMENT);
        if (given?.value.kind === Kind.VARIABLE) {
          variables[given.value.name.value] = cursor;
          return undefined;
        }
        const after: ArgumentNode = { kind: Kind.ARGUMENT, name: { kind: Kind.NAME, value: RESUME_ARGUMENT }, value: { kind: Kind.STRING, value: cursor } };
        return { ...field, arguments: [...(field.arguments ?? []).filter((a) => a !== given), after] };
      },
    },
  });
  return { ...operation, query: print(resumed), variables };
}

/** The cursor of an event result (`{ data: { <field>: { cursor } } }`), to send as the SSE event's id. */
export function cursorOf(result: unknown): string | undefined {
  const data = (result as { data?: Record<string, unknown> } | null)?.data;
  if (!data || typeof data !== 'object') return undefined;
  for (const value of Object.values(data)) {
    const cursor = (value as { cursor?: unknown } | null)?.cursor;
    if (typeof cursor === 'string') return cursor;
  }
  return undefined;
}
