/**
 * Every way a test waits, in one place. Nothing here sleeps for a fixed time or counts ticks:
 *
 * - {@link Inbox}: collects what handlers, hooks, loggers and event listeners produce; a test awaits
 *   items (or any condition on them) with a timeout. Use it whenever something in the process can
 *   announce what the test waits for.
 * - {@link eventually}: polls state that announces nothing, on the Redis side (pending entries, the
 *   length of a key, connections a node sees, who owns a slot).
 */

const DEFAULT_TIMEOUT = 5000;

type What = string | (() => string);

/** Collects values and lets a test wait for them, failing after a timeout instead of sleeping. */
export class Inbox<T> {
  readonly items: T[] = [];
  readonly #waiters = new Set<{ ready: () => boolean; resolve: () => void }>();
  #cursor = 0;

  push = (item: T): void => {
    this.items.push(item);
    for (const waiter of this.#waiters) {
      if (waiter.ready()) {
        this.#waiters.delete(waiter);
        waiter.resolve();
      }
    }
  };

  /**
   * Resolves once `condition` holds, checked now and after every push (it may read other state
   * that changes together with the pushes).
   */
  async until(condition: (items: readonly T[]) => boolean, timeout = DEFAULT_TIMEOUT, what: What = 'the condition'): Promise<void> {
    const ready = (): boolean => condition(this.items);
    if (ready()) return;
    await new Promise<void>((resolve, reject) => {
      const waiter = { ready, resolve: () => (clearTimeout(timer), resolve()) };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new Error(`Timed out after ${timeout} ms waiting for ${typeof what === 'function' ? what() : what}`));
      }, timeout);
      this.#waiters.add(waiter);
    });
  }

  /** Resolves with the first `count` items once they arrived. */
  async take(count: number, timeout = DEFAULT_TIMEOUT): Promise<T[]> {
    await this.until((items) => items.length >= count, timeout, () => `${count} items (only ${this.items.length} arrived)`);
    return this.items.slice(0, count);
  }

  /** Resolves with the oldest item `next()` has not returned yet. */
  async next(timeout = DEFAULT_TIMEOUT): Promise<T> {
    const index = this.#cursor;
    this.#cursor += 1;
    await this.take(index + 1, timeout);
    return this.items[index]!;
  }

  /** Resolves with the first item that matches, once it arrived. */
  async find(match: (item: T) => boolean, timeout = DEFAULT_TIMEOUT, what: What = 'a matching item'): Promise<T> {
    await this.until((items) => items.some(match), timeout, what);
    return this.items.find(match)!;
  }
}

/**
 * Resolves when `predicate` holds, polling every `interval` ms; for Redis-side state no event
 * announces. A predicate that throws counts as not holding yet (a node may be down or still
 * starting); the last error is reported if the wait times out.
 */
export async function eventually(predicate: () => Promise<boolean> | boolean, timeout = DEFAULT_TIMEOUT, what: What = 'the condition', interval = 20): Promise<void> {
  const deadline = Date.now() + timeout;
  let lastError: unknown;
  for (;;) {
    try {
      if (await predicate()) return;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const cause = lastError === undefined ? '' : ` (last error: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)})`;
      throw new Error(`Timed out after ${timeout} ms waiting for ${typeof what === 'function' ? what() : what}${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
