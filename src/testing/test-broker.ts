import type { Handler } from '../core/consume.js';
import { SetupError } from '../core/errors.js';
import type { RedisBroker } from '../redis/broker.js';
import type { RedisPublisher} from '../redis/registration.js';
import { RedisSubscriber } from '../redis/registration.js';
import { MemoryRedis } from './memory/redis.js';
import { MemoryStrategy } from './memory/strategy.js';
import { Spy } from './spy.js';

/**
 * Options of {@link TestRedisBroker}.
 *
 * @example
 * ```ts
 * const redis = new MemoryRedis();
 * const orders = new TestRedisBroker(ordersBroker, { redis });
 * const billing = new TestRedisBroker(billingBroker, { redis });
 * ```
 */
export interface TestRedisBrokerOptions {
  /** Keep the spies but talk to the real Redis the broker was configured for. @defaultValue `false` */
  readonly withReal?: boolean;
  /** Share one in-memory Redis between several test brokers (two services in one test). @defaultValue a new one */
  readonly redis?: MemoryRedis;
}

/**
 * TestRedisBroker: runs a service's unchanged broker against an in-memory Redis, with a spy on
 * every handler and publisher. No socket is opened, so tests pass with Redis stopped.
 *
 * Closer to Redis than FastStream's fake, because the real subscribers run against an emulation
 * of the Redis commands they send: a list element goes to one consumer; a stream group hands each
 * entry to one consumer of the group and to every group; entries get real IDs; pending entries,
 * delivery counts, nack/reject, claiming after `minIdleTime` (real idle times: use a small one in
 * tests), `maxDeliveries` and dead letters behave as on Redis. Handler errors are handled by the
 * ack policy, as in production; read them from the spy (`call.error`).
 *
 * @example
 * await using tb = new TestRedisBroker(broker);
 * await tb.start();
 * await broker.publish({ id: 'a1', qty: 2 }, { stream: 'orders' });
 * const call = await tb.spy(billing).waitCall();
 * assert.deepEqual(call.body, { id: 'a1', qty: 2 });
 */
export class TestRedisBroker<Broker extends RedisBroker = RedisBroker> {
  readonly broker: Broker;
  /** The in-memory Redis, to look at what it holds; undefined with `withReal`. */
  readonly redis: MemoryRedis | undefined;
  readonly #spies = new Map<RedisSubscriber | RedisPublisher, Spy>();
  #active = true;

  constructor(broker: Broker, options: TestRedisBrokerOptions = {}) {
    if (broker.state !== 'idle') throw new SetupError(`TestRedisBroker needs an idle broker; this one is ${broker.state}. Create the TestRedisBroker before start().`);
    this.broker = broker;
    this.redis = options.withReal ? undefined : (options.redis ?? new MemoryRedis());
    const redis = this.redis;
    if (redis) broker.useStrategy(() => new MemoryStrategy(redis));
    this.#watch();
  }

  /** Starts the broker (in memory unless `withReal`). */
  async start(): Promise<void> {
    if (!this.#active) throw new SetupError('This TestRedisBroker was stopped; create a new one.');
    this.#watch();
    await this.broker.start();
  }

  /** Stops the broker and gives it back its real connection. Spies keep their calls. */
  async stop(): Promise<void> {
    if (!this.#active) return;
    this.#active = false;
    await this.broker.stop();
    for (const target of this.#spies.keys()) {
      if (target instanceof RedisSubscriber) target.intercept(undefined);
      else target.observe(undefined);
    }
    if (this.redis) this.broker.useStrategy(undefined);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  /** The calls of a subscriber's handler or a publisher (registered on the broker or its routers). */
  spy<Body = unknown>(target: RedisSubscriber | RedisPublisher): Spy<Body> {
    this.#watch();
    const spy = this.#spies.get(target);
    if (!spy) throw new SetupError('This subscriber or publisher is not registered on the broker under test (or on a router it includes).');
    return spy as Spy<Body>;
  }

  /** Puts a spy on every subscriber and publisher not watched yet. */
  #watch(): void {
    const { subscribers, publishers } = this.broker.describe();
    for (const { subscriber } of subscribers) {
      if (this.#spies.has(subscriber)) continue;
      const spy = new Spy();
      this.#spies.set(subscriber, spy);
      subscriber.intercept((handler: Handler): Handler => async (body, message) => {
        try {
          const result = await handler(body, message);
          spy.record({ body, message, error: undefined });
          return result;
        } catch (error) {
          spy.record({ body, message, error });
          throw error;
        }
      });
    }
    for (const { publisher } of publishers) {
      if (this.#spies.has(publisher)) continue;
      const spy = new Spy();
      this.#spies.set(publisher, spy);
      publisher.observe((body) => spy.record({ body, message: undefined, error: undefined }));
    }
  }
}
