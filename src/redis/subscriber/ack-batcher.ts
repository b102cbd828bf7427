/**
 * Coalesces the XACKs of one stream and group issued in the same tick into one
 * `XACK key group id1 id2 …`: many handlers finishing together cost Redis one command.
 * Each caller still learns whether its own acknowledgement reached Redis.
 */
import type { CommandClient } from '../connection/strategy.js';

export class AckBatcher {
  readonly #commands: CommandClient;
  readonly #stream: string;
  readonly #group: string;
  #ids: string[] = [];
  #waiters: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];

  constructor(commands: CommandClient, stream: string, group: string) {
    this.#commands = commands;
    this.#stream = stream;
    this.#group = group;
  }

  ack(ids: readonly string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#ids.length === 0) queueMicrotask(() => this.#flush());
      this.#ids.push(...ids);
      this.#waiters.push({ resolve, reject });
    });
  }

  #flush(): void {
    const ids = this.#ids;
    const waiters = this.#waiters;
    this.#ids = [];
    this.#waiters = [];
    this.#commands.send('XACK', this.#stream, [this.#stream, this.#group, ...ids]).then(
      () => waiters.forEach((w) => w.resolve()),
      (error: unknown) => waiters.forEach((w) => w.reject(error)),
    );
  }
}
