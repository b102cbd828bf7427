/**
 * The handler of a subscriber registered without one: each message waits in the mailbox until
 * `getOne()` or a `for await` loop takes it, and counts as handled when it is released (getOne:
 * as it is handed out; a loop: when the loop asks for the next one or ends).
 */
import { NackMessage } from './errors.js';
import type { Handler } from './consume.js';
import type { Message } from './message.js';

/** A message handed out, and how to say it was dealt with. */
export interface Delivery {
  readonly message: Message;
  /** The message was dealt with: the ack policy applies to it now. */
  release(): void;
}

interface Held extends Delivery {
  /** The subscriber stops before anyone took it: leave it for redelivery. */
  drop(): void;
}

/** Messages waiting for `getOne()` or a `for await` loop. */
export class Mailbox {
  readonly #held: Held[] = [];
  readonly #waiters = new Set<(delivery: Held | undefined) => void>();
  #closed = false;

  /** The subscriber's handler: hands the message out and completes when it is released. */
  readonly handler: Handler = (_body, message) =>
    new Promise<void>((release, fail) => {
      if (this.#closed) {
        fail(new NackMessage());
        return;
      }
      const held: Held = { message, release, drop: () => fail(new NackMessage()) };
      const [waiter] = this.#waiters;
      if (waiter) {
        this.#waiters.delete(waiter);
        waiter(held);
      } else this.#held.push(held);
    });

  /** The next message, waiting up to `timeout` ms (undefined: as long as it takes, or until closed). */
  take(timeout?: number): Promise<Delivery | undefined> {
    const held = this.#held.shift();
    if (held) return Promise.resolve(held);
    if (this.#closed) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const timer = timeout === undefined ? undefined : setTimeout(() => done(undefined), timeout);
      const done = (delivery: Held | undefined): void => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve(delivery);
      };
      this.#waiters.add(done);
    });
  }

  /** The subscriber (re)starts: messages are handed out again. */
  open(): void {
    this.#closed = false;
  }

  /** The subscriber stops: whoever waits gets nothing, and what nobody took is left for redelivery (nacked). */
  close(): void {
    this.#closed = true;
    for (const waiter of [...this.#waiters]) waiter(undefined);
    for (const held of this.#held.splice(0)) held.drop();
  }
}
