import { ErrorCode, RedstreamError } from '../core/errors.js';
import type { Message } from '../core/message.js';

/** One call a {@link Spy} recorded. */
export interface SpyCall<Body = unknown> {
  /** The decoded (and validated) body the handler got, or the body a publisher sent. */
  readonly body: Body;
  /** The message, for handler calls. */
  readonly message: Message<Body> | undefined;
  /** The handler's error, if it threw. */
  readonly error: unknown;
}

/**
 * A record of calls that works with any test runner: the decoded bodies a handler received or a
 * publisher sent, and promises that wait for calls (with a timeout, never a sleep).
 */
export class Spy<Body = unknown> {
  readonly calls: Array<SpyCall<Body>> = [];
  readonly #waiters = new Set<() => void>();

  get called(): boolean {
    return this.calls.length > 0;
  }

  get callCount(): number {
    return this.calls.length;
  }

  /** Every body, in call order. */
  get bodies(): Body[] {
    return this.calls.map((call) => call.body);
  }

  get lastCall(): SpyCall<Body> | undefined {
    return this.calls[this.calls.length - 1];
  }

  /** Resolves with the first call, waiting for it if needed; rejects after `timeout` ms. */
  async waitCall(timeout = 5000): Promise<SpyCall<Body>> {
    return (await this.waitCalls(1, timeout))[0]!;
  }

  /** Resolves once `count` calls were made, with the first `count` calls. */
  async waitCalls(count: number, timeout = 5000): Promise<Array<SpyCall<Body>>> {
    if (this.calls.length < count) {
      await new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (this.calls.length < count) return;
          clearTimeout(timer);
          this.#waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          this.#waiters.delete(check);
          reject(new RedstreamError(ErrorCode.TIMEOUT, `Expected ${count} call(s) within ${timeout} ms, got ${this.calls.length}.`));
        }, timeout);
        this.#waiters.add(check);
      });
    }
    return this.calls.slice(0, count);
  }

  /** Resolves with the next call made after this one is asked for. */
  async nextCall(timeout = 5000): Promise<SpyCall<Body>> {
    const index = this.calls.length;
    return (await this.waitCalls(index + 1, timeout))[index]!;
  }

  /** Forgets every call. */
  reset(): void {
    this.calls.length = 0;
  }

  /** @internal */
  record(call: SpyCall<Body>): void {
    this.calls.push(call);
    for (const waiter of [...this.#waiters]) waiter();
  }
}
