/**
 * List consumer: FIFO with RPUSH / BLPOP. Batches take up to `maxRecords` with LPOP COUNT and,
 * when the list is empty, block on BLPOP for the first element instead of polling with sleeps.
 * A popped element is gone from Redis: it is always processed, even during stop().
 */
import { parseWire } from '../../core/codec/wire.js';
import { Message } from '../../core/message.js';
import type { BlockingConnection } from '../connection/strategy.js';
import type { ListSub } from '../sources.js';
import { ReadLoop, type LoopDeps } from './runtime.js';

export class ListSubscriber extends ReadLoop {
  readonly name: string;
  protected readonly finishReadMessages = true;
  readonly #source: ListSub<boolean>;
  readonly #timeout: string;

  constructor(source: ListSub<boolean>, deps: LoopDeps) {
    super(deps);
    this.#source = source;
    this.name = source.name;
    this.#timeout = String(source.pollingInterval / 1000);
  }

  protected prepare(): Promise<void> {
    return Promise.resolve();
  }

  protected async read(connection: BlockingConnection): Promise<Message[]> {
    const key = this.name;
    if (!this.#source.batch) {
      const popped = (await connection.send('BLPOP', [key, this.#timeout])) as [Buffer, Buffer] | null;
      return popped ? [this.#message([popped[1]])] : [];
    }
    const max = this.#source.maxRecords;
    let items = (await connection.send('LPOP', [key, max])) as Buffer[] | null;
    if (!items) {
      const first = (await connection.send('BLPOP', [key, this.#timeout])) as [Buffer, Buffer] | null;
      if (!first) return [];
      const rest = max > 1 ? ((await connection.send('LPOP', [key, max - 1])) as Buffer[] | null) : null;
      items = rest ? [first[1], ...rest] : [first[1]];
    }
    return [this.#message(items)];
  }

  #message(values: Buffer[]): Message {
    return new Message({
      source: { kind: 'list', name: this.name },
      items: values.map(parseWire),
      batch: this.#source.batch,
      raw: values,
    });
  }
}
