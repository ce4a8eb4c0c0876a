/**
 * Shared runs of identical subscriptions (shared.ts), with stand-in sources: one run for joiners
 * while no reply is open, every result to each listener, a failure to all, the run and its
 * upstream pool ended by the last to leave, and operations resuming from a cursor never shared.
 */
import { describe, expect, it } from '@jest/globals';
import { parse, type ExecutionResult } from 'graphql';
import { createChannel, type ChannelWriter } from '@chat/shared/channel';
import { createSharedSubscriptions, shareable } from './shared';
import type { UpstreamPool } from './upstream';

/** A pool that only counts its disposal. */
function pool(): UpstreamPool & { disposed: number } {
  return { disposed: 0, subscribe: () => () => {}, async dispose() { this.disposed += 1; } };
}

/** A source the test writes to, counting how often runs were started and stopped. */
function sources() {
  const started: Array<{ writer: ChannelWriter<ExecutionResult>; stopped: boolean }> = [];
  const start = () => {
    const entry = { writer: undefined as unknown as ChannelWriter<ExecutionResult>, stopped: false };
    const { writer, iterator } = createChannel<ExecutionResult>(() => (entry.stopped = true));
    entry.writer = writer;
    started.push(entry);
    return iterator;
  };
  return { started, start };
}

const event = (kind: string, messageId = 'r1'): ExecutionResult => ({ data: { conversationEvents: { kind, messageId } } });
const tick = () => new Promise((r) => setTimeout(r, 0));

/** Takes the next value of a listener. */
async function next(listener: AsyncGenerator<ExecutionResult, undefined, unknown>) {
  return (await listener.next()).value;
}

describe('shared subscriptions', () => {
  it('runs identical subscriptions once while no reply is open, each listener getting every result', async () => {
    const pools: Array<ReturnType<typeof pool>> = [];
    const shared = createSharedSubscriptions(() => pools[pools.push(pool()) - 1]!);
    const { started, start } = sources();
    const a = shared.join('k', 'Bearer t', start);
    const b = shared.join('k', 'Bearer t', start);
    expect(started).toHaveLength(1);
    expect(shared.stats()).toEqual({ runs: 1, listeners: 2 });
    started[0]!.writer.push(event('MESSAGE_CREATED', 'm1'));
    expect(await next(a)).toEqual(event('MESSAGE_CREATED', 'm1'));
    expect(await next(b)).toEqual(event('MESSAGE_CREATED', 'm1'));

    // A reply opens: a joiner now gets a run of its own (whose upstream sends it the text so far).
    started[0]!.writer.push(event('REPLY_DELTA'));
    await next(a);
    await next(b);
    const c = shared.join('k', 'Bearer t', start);
    expect(started).toHaveLength(2);
    // It closes: the newest run is joined again.
    started[1]!.writer.push(event('REPLY_COMPLETED'));
    await next(c);
    shared.join('k', 'Bearer t', start);
    expect(started).toHaveLength(2);

    // The last listener of a run to leave ends it and its pool.
    await a.return(undefined);
    expect(started[0]!.stopped).toBe(false);
    await b.return(undefined);
    await tick();
    expect(started[0]!.stopped).toBe(true);
    expect(pools[0]!.disposed).toBeGreaterThan(0);
    await shared.dispose();
    expect(started[1]!.stopped).toBe(true);
  });

  it('fails every listener when the run fails, and starts afresh after', async () => {
    const shared = createSharedSubscriptions(() => pool());
    const { started, start } = sources();
    const a = shared.join('k', undefined, start);
    const b = shared.join('k', undefined, start);
    const failure = new Error('upstream gone');
    started[0]!.writer.fail(failure);
    await expect(a.next()).rejects.toBe(failure);
    await expect(b.next()).rejects.toBe(failure);
    await tick();
    shared.join('k', undefined, start);
    expect(started).toHaveLength(2);
    await shared.dispose();
  });

  it('shares no run whose results do not show their kind and message', async () => {
    const shared = createSharedSubscriptions(() => pool());
    const { started, start } = sources();
    const a = shared.join('k', undefined, start);
    started[0]!.writer.push({ data: { conversationEvents: { delta: 'x' } } });
    await next(a);
    shared.join('k', undefined, start);
    expect(started).toHaveLength(2);
    await shared.dispose();
  });

  it('never shares an operation resuming from a cursor', () => {
    expect(shareable(parse('subscription($id: ID!) { conversationEvents(conversationId: $id) { kind } }'))).toBe(true);
    expect(shareable(parse('subscription($id: ID!, $a: String) { conversationEvents(conversationId: $id, after: $a) { kind } }'))).toBe(false);
  });
});
