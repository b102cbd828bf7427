/**
 * Something opened on first use and shared by every caller after (a connection, a subscription):
 * a call while it opens waits for that opening; a failed opening is forgotten, so the next call
 * tries again.
 */
export class Opening<T> {
  #pending: Promise<T> | undefined;

  /** What is opened or opening, else what `open` starts now. */
  get(open: () => Promise<T>): Promise<T> {
    if (this.#pending) return this.#pending;
    const pending: Promise<T> = open().catch((error: unknown) => {
      if (this.#pending === pending) this.#pending = undefined;
      throw error;
    });
    this.#pending = pending;
    return pending;
  }

  /** Forgets it, so the next get() opens anew; returns what was opened or opening, if anything. */
  forget(): Promise<T> | undefined {
    const pending = this.#pending;
    this.#pending = undefined;
    return pending;
  }
}
