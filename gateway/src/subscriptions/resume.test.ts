/** Resuming from SSE's Last-Event-ID (resume.ts): the cursor becomes conversationEvents' `after`, and an event result's cursor is found. */
import { describe, expect, it } from '@jest/globals';
import { parse, print } from 'graphql';
import { cursorOf, withResumeCursor } from './resume';

const normal = (query: string) => print(parse(query));

describe('withResumeCursor', () => {
  it('adds after as a literal to a root conversationEvents field without one', () => {
    const resumed = withResumeCursor({ query: 'subscription($id: ID!) { conversationEvents(conversationId: $id) { cursor kind } }', variables: { id: 'c1' } }, '17-3');
    expect(resumed.query).toBe(normal('subscription($id: ID!) { conversationEvents(conversationId: $id, after: "17-3") { cursor kind } }'));
    expect(resumed.variables).toEqual({ id: 'c1' });
  });

  it('sets the variable an operation passes as after, and replaces a literal one', () => {
    const byVariable = withResumeCursor({ query: 'subscription($id: ID!, $a: String) { conversationEvents(conversationId: $id, after: $a) { kind } }', variables: { id: 'c1', a: '1-0' } }, '17-3');
    expect(byVariable.variables).toEqual({ id: 'c1', a: '17-3' });
    expect(byVariable.query).toBe(normal('subscription($id: ID!, $a: String) { conversationEvents(conversationId: $id, after: $a) { kind } }'));
    const literal = withResumeCursor({ query: 'subscription { conversationEvents(conversationId: "c1", after: "1-0") { kind } }' }, '17-3');
    expect(literal.query).toBe(normal('subscription { conversationEvents(conversationId: "c1", after: "17-3") { kind } }'));
  });

  it('leaves nested fields, other fields and unparsable text alone', () => {
    const query = 'subscription { other { conversationEvents { kind } } }';
    expect(withResumeCursor({ query }, '1-0').query).toBe(normal(query));
    expect(withResumeCursor({ query: 'subscription {' }, '1-0').query).toBe('subscription {');
  });
});

describe('cursorOf', () => {
  it("finds the root field's cursor, and nothing in a result without one", () => {
    expect(cursorOf({ data: { conversationEvents: { cursor: '5-1', kind: 'REPLY_DELTA' } } })).toBe('5-1');
    expect(cursorOf({ data: { conversationEvents: { kind: 'REPLY_DELTA' } } })).toBeUndefined();
    expect(cursorOf({ errors: [{ message: 'no' }] })).toBeUndefined();
    expect(cursorOf(null)).toBeUndefined();
  });
});
