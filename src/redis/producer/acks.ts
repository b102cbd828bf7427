/**
 * Coalesces the XACKs of one stream and group issued in the same tick into one
 * `XACK key group id1 id2 …`: many handlers finishing together cost Redis one command, and
 * share one promise that settles when that command's reply arrived. Every acknowledgement a
 * subscriber sends outside a dead-letter transaction goes through one of these.
 */
import type { CommandClient } from '../connection/strategy.js';
import { ackCommand } from './commands.js';

/** The acknowledgements of one stream and consumer group. */
export class AckBatcher {
  readonly #commands: CommandClient;
  readonly #stream: string;
  readonly #group: string;
  #ids: string[] = [];
  #round: Promise<void> | undefined;

  constructor(commands: CommandClient, stream: string, group: string) {
    this.#commands = commands;
    this.#stream = stream;
    this.#group = group;
  }

  /**
   * Queues `ids` for this tick's XACK. The promise (shared by everything acked in this tick)
   * rejects with the command's error; nobody has to observe it.
   */
  ack(ids: readonly string[]): Promise<void> {
    for (const id of ids) this.#ids.push(id);
    if (this.#round) return this.#round;
    // Sent one microtask later: every handler that finishes in this tick joins the command.
    const round = Promise.resolve().then(() => this.#flush());
    // A failed XACK leaves the entries pending (redelivered later); callers that care observe it.
    round.catch(() => undefined);
    this.#round = round;
    return round;
  }

  async #flush(): Promise<void> {
    const ids = this.#ids;
    this.#ids = [];
    this.#round = undefined;
    const command = ackCommand(this.#stream, this.#group, ids);
    await this.#commands.send(command.name, command.key, command.args);
  }
}
