import { parseWire } from '../../core/codec/wire.js';
import { consume, type ConsumerConfig } from '../../core/consume.js';
import type { Logger } from '../../core/logger.js';
import { Message } from '../../core/message.js';
import { WorkerPool } from '../../core/pool.js';
import { settlesWithin } from '../../core/time.js';
import type { PubSub } from '../sources.js';
import type { PubSubHub } from './hub.js';
import { compileChannel, type ChannelTemplate } from './path.js';
import type { RuntimeSubscriber } from './runtime.js';

/**
 * Channel consumer on the broker's shared Pub/Sub connection. Messages are processed in arrival
 * order by up to `maxWorkers` at once; Pub/Sub has no back-pressure, so the rest queue in memory.
 */
export class ChannelSubscriber implements RuntimeSubscriber {
  readonly name: string;
  readonly #source: PubSub;
  readonly #template: ChannelTemplate;
  readonly #hub: PubSubHub;
  readonly #config: ConsumerConfig;
  readonly #logger: Logger;
  #queue: Message[] = [];
  #head = 0;
  /** Messages dropped since the queue was last full. */
  #dropped = 0;
  readonly #pool: WorkerPool;
  /** Set while queued messages wait for a free worker. */
  #waiting: Promise<void> | undefined;
  #unsubscribe: (() => Promise<void>) | undefined;

  constructor(source: PubSub, hub: PubSubHub, config: ConsumerConfig, logger: Logger, maxWorkers: number) {
    this.#pool = new WorkerPool(maxWorkers);
    this.#source = source;
    this.name = source.name;
    // Only a pattern has params; any other name is subscribed to exactly as written.
    this.#template = source.pattern ? compileChannel(source.name) : { address: source.name, match: () => ({}) };
    this.#hub = hub;
    this.#config = config;
    this.#logger = logger;
  }

  async start(): Promise<void> {
    if (this.#unsubscribe) return;
    const kind = this.#source.sharded ? 'sharded' : this.#source.pattern ? 'pattern' : 'channel';
    this.#unsubscribe = await this.#hub.subscribe(kind, this.#template.address, (channel, payload) => {
      if (this.#queue.length - this.#head >= this.#source.maxQueued) {
        this.#drop();
        return;
      }
      this.#queue.push(
        new Message({
          subscriber: this.#config.subscriber,
          context: this.#config.context,
          source: { kind: 'channel', name: channel },
          items: [parseWire(payload)],
          batch: false,
          ...(this.#source.pattern ? { path: this.#template.match(channel) } : {}),
          raw: payload,
        }),
      );
      this.#dispatch();
    });
  }

  async stop(gracefulTimeout: number): Promise<void> {
    const unsubscribe = this.#unsubscribe;
    this.#unsubscribe = undefined;
    await unsubscribe?.();
    const deadline = Date.now() + gracefulTimeout;
    let dispatched = true;
    // Each wake-up dispatches what it can and may wait again for the next free worker.
    while (dispatched && this.#waiting) dispatched = await settlesWithin(this.#waiting, Math.max(0, deadline - Date.now()));
    const finished = dispatched && (await this.#pool.drain(Math.max(0, deadline - Date.now())));
    if (!finished) {
      this.#logger.warn(
        { subscriber: this.name },
        `Handlers still running after gracefulTimeout (${gracefulTimeout} ms); ${this.#queue.length - this.#head} queued messages dropped.`,
      );
      this.#queue = [];
      this.#head = 0;
    }
  }

  /** The queue is full: the newest message is dropped (Pub/Sub is at-most-once anyway), and counted. */
  #drop(): void {
    this.#dropped += 1;
    if (this.#dropped === 1) {
      this.#logger.warn(
        { subscriber: this.name, maxQueued: this.#source.maxQueued },
        `${this.#source.maxQueued} messages wait for a worker (maxQueued); dropping new ones until there is room. Raise maxWorkers or maxQueued if this is not a burst.`,
      );
    }
  }

  /** Hands queued messages to free workers; when none is free, comes back once one is. */
  #dispatch(): void {
    if (this.#waiting) return;
    while (this.#head < this.#queue.length) {
      if (this.#pool.free === 0) {
        this.#waiting = this.#pool.capacity().then(() => {
          this.#waiting = undefined;
          this.#dispatch();
        });
        return;
      }
      const message = this.#queue[this.#head];
      this.#head += 1;
      if (this.#dropped > 0) {
        this.#logger.warn({ subscriber: this.name, dropped: this.#dropped }, `Dropped ${this.#dropped} messages while the queue was full (maxQueued ${this.#source.maxQueued}).`);
        this.#dropped = 0;
      }
      // O(1) dequeue: drop the consumed prefix now and then instead of shifting every time.
      if (this.#head >= 1024 && this.#head * 2 >= this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      if (message) this.#pool.run(() => consume(this.#config, message));
    }
  }
}
