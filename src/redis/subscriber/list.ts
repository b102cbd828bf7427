import { parseWire } from '../../core/codec/wire.js';
import { Message, type MessageSource } from '../../core/message.js';
import type { BlockingConnection } from '../connection/strategy.js';
import type { ListSub } from '../sources.js';
import { ReadLoop, type LoopDeps } from './runtime.js';
import type { WaitSpec } from './shared.js';

/**
 * List consumer: FIFO with RPUSH / BLPOP. Batches take up to `maxRecords` with LPOP COUNT and,
 * when the list is empty, block on BLPOP for the first element instead of polling with sleeps.
 * Without batches, up to the free workers are popped at once. A popped element is gone from Redis:
 * it is always processed, even during stop().
 */
export class ListSubscriber extends ReadLoop {
  readonly name: string;
  readonly #source: ListSub<boolean>;
  readonly #timeout: string;
  protected readonly readTimeout: number;
  protected readonly dedicated: boolean;
  readonly #messageSource: MessageSource;
  /** Whether the last pop found fewer elements than it asked for. */
  #drained = false;

  constructor(source: ListSub<boolean>, deps: LoopDeps) {
    super(deps);
    this.#source = source;
    this.name = source.name;
    this.#messageSource = { kind: 'list', name: source.name };
    this.#timeout = String(source.pollingInterval / 1000);
    this.readTimeout = source.pollingInterval;
    this.dedicated = source.dedicatedConnection;
  }

  protected override get drained(): boolean {
    return this.#drained;
  }

  protected readCount(capacity: number): number {
    return this.#source.batch ? this.#source.maxRecords : capacity;
  }

  protected waitSpec(): Omit<WaitSpec, 'lost'> {
    return { key: this.name, lane: { kind: 'list' }, block: this.#source.pollingInterval };
  }

  /** Elements a shared BLMPOP popped for us. */
  protected async delivered(items: unknown[], connection: BlockingConnection | undefined): Promise<Message[]> {
    const values = items as Buffer[];
    if (values.length === 0) return [];
    if (!this.#source.batch) return values.map((item) => this.#message([item], item));
    // What the lane popped exists nowhere else: a failed top-up must not lose it.
    const more = connection && values.length < this.#source.maxRecords ? await this.#pop(connection, this.#source.maxRecords - values.length).catch(() => []) : [];
    return [this.#message([...values, ...more])];
  }

  protected prepare(): Promise<void> {
    return Promise.resolve();
  }

  protected async read(connection: BlockingConnection, capacity: number): Promise<Message[]> {
    if (this.#source.batch) {
      const items = await this.#pop(connection, this.#source.maxRecords);
      return items.length > 0 ? [this.#message(items)] : [];
    }
    return (await this.#pop(connection, this.readCount(capacity))).map((item) => this.#message([item], item));
  }

  /** Pops up to `max` elements: what is there at once, else blocks for the first one. */
  async #pop(connection: BlockingConnection, max: number): Promise<Buffer[]> {
    const key = this.name;
    // Shared reading: never block here; an empty list makes the reader wait with the others.
    if (!this.blocks) {
      const popped = ((await connection.send('LPOP', [key, max])) as Buffer[] | null) ?? [];
      this.#drained = popped.length < max;
      return popped;
    }
    if (max > 1) {
      const ready = (await connection.send('LPOP', [key, max])) as Buffer[] | null;
      if (ready) return ready;
    }
    const first = (await connection.send('BLPOP', [key, this.#timeout])) as [Buffer, Buffer] | null;
    if (!first) return [];
    if (max === 1) return [first[1]];
    const rest = (await connection.send('LPOP', [key, max - 1])) as Buffer[] | null;
    return rest ? [first[1], ...rest] : [first[1]];
  }

  /** `raw`: what was popped (the element, or every element of a batch). */
  #message(values: Buffer[], raw: Buffer | Buffer[] = values): Message {
    return new Message({
      subscriber: this.deps.config.subscriber,
      context: this.deps.config.context,
      source: this.#messageSource,
      items: values.map(parseWire),
      batch: this.#source.batch,
      raw,
    });
  }
}
