import { settlesWithin } from './time.js';

/**
 * Runs up to `size` tasks at once. Readers ask for capacity before reading, so a subscriber holds
 * little more than it can process (back-pressure). With size 1 tasks run in order.
 */
export class WorkerPool {
  readonly size: number;
  #active = 0;
  readonly #tasks = new Set<Promise<void>>();
  /** Callers of capacity() waiting for a slot (a read loop, and one that a watchdog replaced). */
  #waiters: Array<() => void> = [];

  constructor(size: number) {
    this.size = size;
  }

  /** Free slots right now. */
  get free(): number {
    return this.size - this.#active;
  }

  /**
   * Resolves once at least `min` slots are free (one by default). Readers ask for half the pool,
   * so that reads stay batched instead of taking one message each time one handler finishes.
   */
  async capacity(min = 1): Promise<number> {
    const wanted = Math.min(Math.max(min, 1), this.size);
    while (this.free < wanted) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    return this.free;
  }

  /**
   * Starts `task` in a free slot; call {@link capacity} first. A task that returns a promise holds
   * its slot until the promise settles; one that returns anything else has already finished.
   */
  run(task: () => unknown): void {
    this.#active += 1;
    let result: unknown;
    try {
      result = task();
    } catch {
      result = undefined;
    }
    if (!(result instanceof Promise)) {
      this.#release();
      return;
    }
    const running: Promise<void> = result.then(
      () => this.#finished(running),
      () => this.#finished(running),
    );
    this.#tasks.add(running);
  }

  #finished(running: Promise<void>): void {
    this.#tasks.delete(running);
    this.#release();
  }

  #release(): void {
    this.#active -= 1;
    if (this.#waiters.length === 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter();
  }

  /** Waits for every running task, at most `timeout` ms; true if all finished. */
  drain(timeout: number): Promise<boolean> {
    return settlesWithin(Promise.all(this.#tasks), timeout);
  }
}
