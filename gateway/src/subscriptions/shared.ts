/**
 * Shared upstreams: identical subscriptions (same credentials, same operation, same variables) on
 * one gateway run once, one upstream subscription and one execution per event, each client
 * getting every result. A shared run owns its upstream sockets, so it outlives the connection that
 * started it for as long as anyone listens.
 *
 * A late joiner must still get what a subscription gives it on joining (a conversation's late
 * subscriber is sent the text so far of a streaming reply by the subgraph): it joins a run only
 * while no reply is open in it (seen by the `kind` and `messageId` of its results), and otherwise
 * starts a run of its own. Results that do not show them make a run that nobody joins.
 */
import { Kind, type DocumentNode, type ExecutionResult } from 'graphql';
import { createChannel, type ChannelWriter } from '@chat/shared/channel';
import { RESUME_ARGUMENT } from './resume';
import type { UpstreamPool } from './upstream';

/**
 * Whether an operation may share a run: not one resuming from a cursor (its first results are a
 * replay for its own client only).
 */
export function shareable(document: DocumentNode): boolean {
  return document.definitions.every(
    (definition) =>
      definition.kind !== Kind.OPERATION_DEFINITION ||
      definition.selectionSet.selections.every((selection) => selection.kind !== Kind.FIELD || !selection.arguments?.some((a) => a.name.value === RESUME_ARGUMENT)),
  );
}

/** Kinds of event that open a reply (its text streams), and those that close it. */
const OPENING_KINDS = new Set(['REPLY_DELTA']);
const CLOSING_KINDS = new Set(['REPLY_COMPLETED', 'REPLY_FAILED', 'REPLY_CANCELLED']);
/** A continued reply streams again from a MESSAGE_UPDATED whose message is STREAMING. */
const REOPENING_KIND = 'MESSAGE_UPDATED';

/** Shared runs of identical subscriptions. */
export interface SharedSubscriptions {
  /**
   * The results of the subscription known by `key`: joins its run when one may be joined, else
   * starts one with `start` over an upstream pool of the run's own (made with `authorization`).
   */
  join(key: string, authorization: string | undefined, start: (upstream: UpstreamPool) => AsyncGenerator<ExecutionResult, undefined, unknown>): AsyncGenerator<ExecutionResult, undefined, unknown>;
  /** Runs now, and clients listening to them (for tests and metrics). */
  stats(): { runs: number; listeners: number };
  /** Ends every run and closes their upstream sockets (on shutdown). */
  dispose(): Promise<void>;
}

/** One run and who listens to it. */
interface Run {
  readonly key: string;
  readonly listeners: Set<ChannelWriter<ExecutionResult>>;
  readonly source: AsyncGenerator<ExecutionResult, undefined, unknown>;
  readonly upstream: UpstreamPool;
  /** Replies streaming now in its results. */
  readonly open: Set<string>;
  /** False once a result did not show its event's kind and message. */
  joinable: boolean;
  ended: boolean;
}

/** Shared runs whose upstream pools come from `poolFor`. */
export function createSharedSubscriptions(poolFor: (authorization: string | undefined) => UpstreamPool): SharedSubscriptions {
  /** Joinable runs by key (a run stops being found once it is not joinable). */
  const runs = new Map<string, Run>();
  const all = new Set<Run>();

  const finish = (run: Run) => {
    if (run.ended) return;
    run.ended = true;
    all.delete(run);
    if (runs.get(run.key) === run) runs.delete(run.key);
    void run.source.return(undefined);
    void run.upstream.dispose();
  };

  /** Follows which replies are open in the run's results, or marks it not joinable. */
  const observe = (run: Run, result: ExecutionResult) => {
    const event = Object.values(result.data ?? {})[0] as { kind?: unknown; messageId?: unknown; message?: { status?: unknown } | null } | null | undefined;
    if (typeof event?.kind !== 'string' || typeof event.messageId !== 'string') {
      run.joinable = false;
      if (runs.get(run.key) === run) runs.delete(run.key);
      return;
    }
    if (OPENING_KINDS.has(event.kind) || (event.kind === REOPENING_KIND && event.message?.status === 'STREAMING')) run.open.add(event.messageId);
    else if (CLOSING_KINDS.has(event.kind)) run.open.delete(event.messageId);
  };

  const pump = async (run: Run) => {
    try {
      for (;;) {
        const step = await run.source.next();
        if (step.done) break;
        observe(run, step.value);
        for (const listener of [...run.listeners]) listener.push(step.value);
      }
      for (const listener of [...run.listeners]) listener.end();
    } catch (error) {
      for (const listener of [...run.listeners]) listener.fail(error);
    } finally {
      finish(run);
    }
  };

  const listen = (run: Run): AsyncGenerator<ExecutionResult, undefined, unknown> => {
    const { writer, iterator } = createChannel<ExecutionResult>(() => {
      run.listeners.delete(writer);
      if (run.listeners.size === 0) finish(run);
    });
    run.listeners.add(writer);
    return iterator;
  };

  return {
    join(key, authorization, start) {
      const running = runs.get(key);
      if (running && !running.ended && running.joinable && running.open.size === 0) return listen(running);
      const upstream = poolFor(authorization);
      const run: Run = { key, listeners: new Set(), source: start(upstream), upstream, open: new Set(), joinable: true, ended: false };
      all.add(run);
      // A run with a reply open stays where it is: the new one is found by those joining later.
      runs.set(key, run);
      const listener = listen(run);
      void pump(run);
      return listener;
    },
    stats: () => ({ runs: all.size, listeners: [...all].reduce((n, run) => n + run.listeners.size, 0) }),
    async dispose() {
      const ending = [...all];
      for (const run of ending) {
        for (const listener of [...run.listeners]) listener.end();
        finish(run);
      }
      await Promise.all(ending.map((run) => run.upstream.dispose()));
    },
  };
}
