/**
 * The subscribers a broker runs: all of them from `start()` to `stop()`, and one at a time for
 * subscribers added to a running broker (`await sub.start()`), stopped by `sub.stop()` or by
 * their handler throwing `StopConsume`.
 */
import type { Logger } from '../../core/logger.js';
import type { SubscriberDescription } from '../description.js';
import type { RedisSubscriber } from '../registration.js';
import { buildSubscriber, type SubscriberDeps } from './build.js';
import type { RuntimeSubscriber } from './runtime.js';

/** The running subscribers of one broker, by the registered subscriber. */
export class RunningSubscribers {
  readonly #running = new Map<RedisSubscriber, RuntimeSubscriber>();
  readonly #deps: () => Omit<SubscriberDeps, 'stopConsume' | 'gracefulTimeout'>;
  readonly #gracefulTimeout: number;
  readonly #logger: Logger;

  constructor(deps: () => Omit<SubscriberDeps, 'stopConsume' | 'gracefulTimeout'>, gracefulTimeout: number, logger: Logger) {
    this.#deps = deps;
    this.#gracefulTimeout = gracefulTimeout;
    this.#logger = logger;
  }

  /** Whether the subscriber is running now. */
  has(subscriber: RedisSubscriber): boolean {
    return this.#running.has(subscriber);
  }

  /** Starts the described subscribers that are not running yet; resolves once each listens. */
  async start(described: readonly SubscriberDescription[]): Promise<void> {
    await Promise.all(described.map((one) => this.#startOne(one)));
  }

  /** Stops one subscriber (its in-flight messages finish first, within gracefulTimeout). */
  async stop(subscriber: RedisSubscriber): Promise<void> {
    const runtime = this.#running.get(subscriber);
    if (!runtime) return;
    // Nobody will take what waits in a handler-less subscriber's mailbox now: it is left for redelivery.
    subscriber.mailbox?.close();
    await runtime.stop(this.#gracefulTimeout);
    // Running until stopped: what it read before is processed meanwhile.
    if (this.#running.get(subscriber) === runtime) this.#running.delete(subscriber);
  }

  /** Stops every running subscriber. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.#running.keys()].map((subscriber) => this.stop(subscriber)));
  }

  async #startOne(described: SubscriberDescription): Promise<void> {
    const { subscriber } = described;
    if (this.#running.has(subscriber)) return;
    subscriber.mailbox?.open();
    const runtime = buildSubscriber(described, {
      ...this.#deps(),
      gracefulTimeout: this.#gracefulTimeout,
      // From inside one of its own handlers: the stop waits for that handler, so it is not awaited there.
      stopConsume: () => {
        this.#logger.info({ subscriber: described.name }, 'StopConsume: stopping the subscriber');
        void this.stop(subscriber);
      },
    });
    this.#running.set(subscriber, runtime);
    try {
      await runtime.start();
    } catch (error) {
      this.#running.delete(subscriber);
      throw error;
    }
    this.#logger.info({ subscriber: runtime.name }, 'waiting for messages');
  }
}
