/** One chat write at a time per conversation on this instance. */

/**
 * Runs tasks one after another per key, in the order they arrive. A conversation's writes that
 * hold credits go through it, so that on one instance the second of two concurrent ones sees the
 * first's reply and answers CONFLICT before holding anything; across instances the store's lock
 * still lets exactly one win (the others give their hold back).
 */
export class KeyedSerializer {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const result = (this.tails.get(key) ?? Promise.resolve()).then(task);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}
