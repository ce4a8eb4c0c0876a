/**
 * A push-to-pull async generator whose `return()` takes effect immediately.
 *
 * graphql-ws ends a subscription by calling `return()` on the iterator it got from
 * `subscribe`. A native `async function*` suspended on an `await` only handles
 * `return()` after that await settles, so a quiet upstream would keep the
 * subscription (and its upstream socket) alive. This channel resolves pending
 * `next()` calls and runs the close hook synchronously instead.
 */

/** Producer side of a channel. */
export interface ChannelWriter<T> {
  /** Queues a value for the consumer (ignored once the channel is closed). */
  push(value: T): void;
  /** Ends the stream normally after queued values are consumed. */
  end(): void;
  /** Ends the stream with an error, delivered after queued values are consumed. */
  fail(error: unknown): void;
  /** Whether the consumer has gone away or the stream has ended. */
  readonly closed: boolean;
}

/** A channel: writer for the producer, async generator for the consumer. */
export interface Channel<T> {
  /** Producer side. */
  readonly writer: ChannelWriter<T>;
  /** Consumer side, suitable as a graphql-ws subscription result. */
  readonly iterator: AsyncGenerator<T, undefined, unknown>;
}

/** Creates a channel; `onClose` runs exactly once when the consumer stops or the stream ends. */
export function createChannel<T>(onClose: () => void): Channel<T> {
  const queue: T[] = [];
  const waiting: Array<{ resolve: (r: IteratorResult<T, undefined>) => void; reject: (e: unknown) => void }> = [];
  let ended = false;
  let failure: { error: unknown } | undefined;
  let closedByConsumer = false;
  let closeHookRan = false;

  const runCloseHook = (): void => {
    if (closeHookRan) return;
    closeHookRan = true;
    onClose();
  };
  const done = (): IteratorResult<T, undefined> => ({ done: true, value: undefined });

  const settleWaiting = (): void => {
    while (waiting.length > 0) {
      const waiter = waiting.shift()!;
      if (queue.length > 0) waiter.resolve({ done: false, value: queue.shift()! });
      else if (failure) {
        const { error } = failure;
        failure = undefined;
        ended = true;
        waiter.reject(error);
      } else if (ended || closedByConsumer) waiter.resolve(done());
      else {
        waiting.unshift(waiter);
        return;
      }
    }
  };

  const writer: ChannelWriter<T> = {
    push(value) {
      if (ended || closedByConsumer || failure) return;
      queue.push(value);
      settleWaiting();
    },
    end() {
      if (ended || closedByConsumer || failure) return;
      ended = true;
      runCloseHook();
      settleWaiting();
    },
    fail(error) {
      if (ended || closedByConsumer || failure) return;
      failure = { error };
      runCloseHook();
      settleWaiting();
    },
    get closed() {
      return ended || closedByConsumer || failure !== undefined;
    },
  };

  const stop = (): IteratorResult<T, undefined> => {
    closedByConsumer = true;
    queue.length = 0;
    failure = undefined;
    runCloseHook();
    settleWaiting();
    return done();
  };

  const iterator: AsyncGenerator<T, undefined, unknown> = {
    next() {
      if (closedByConsumer) return Promise.resolve(done());
      return new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
        settleWaiting();
      });
    },
    return() {
      return Promise.resolve(stop());
    },
    throw(error: unknown) {
      stop();
      return Promise.reject(error);
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
    async [Symbol.asyncDispose]() {
      stop();
    },
  };

  return { writer, iterator };
}
