/**
 * Resuming a conversation's events from a cursor the transport carries (SSE's `Last-Event-ID`):
 * the subscription's `conversationEvents` field gets that cursor as its `after` argument.
 */
import { Kind, parse, print, visit, type ArgumentNode, type FieldNode } from 'graphql';

/** The subscription field whose events carry cursors. */
export const RESUMABLE_FIELD = 'conversationEvents';
/** Its argument naming the last cursor the client has. */
export const RESUME_ARGUMENT = 'after';

/** `query` with `after: "<cursor>"` on its top-level `conversationEvents` fields; the query as it is when it does not parse. */
export function withResumeCursor(query: string, cursor: string): string {
  let document;
  try {
    document = parse(query);
  } catch {
    return query; // preparing it reports the syntax error
  }
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
        const after: ArgumentNode = { kind: Kind.ARGUMENT, name: { kind: Kind.NAME, value: RESUME_ARGUMENT }, value: { kind: Kind.STRING, value: cursor } };
        return { ...field, arguments: [...(field.arguments ?? []).filter((a) => a.name.value !== RESUME_ARGUMENT), after] };
      },
    },
  });
  return print(resumed);
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
