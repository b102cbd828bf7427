import type { Handler, UncheckedHandler } from '../core/consume.js';
import { Registry, type RegistryOptions } from '../core/registry.js';
import type { InferOutput, StandardSchemaV1 } from '../core/schema.js';
import { RedisPublisher, RedisSubscriber, type PublisherOptions, type SubscriberOptions } from './registration.js';
import type { Source } from './sources.js';
import type { BodyFor, SourceInput, Target } from './targets.js';

/**
 * `subscriber()` and `publisher()`, shared by RedisBroker and RedisRouter, with the handler's
 * body type inferred from the schema (or from the handler's own annotation).
 */
export class RedisRegistrator extends Registry<RedisSubscriber, RedisPublisher> {
  constructor(options: RegistryOptions = {}) {
    super(options);
  }

  /**
   * Registers a handler for a channel, list or stream.
   * @example
   * broker.subscriber(new StreamSub('orders', { group: 'billing', consumer: 'c1' }), { schema: Order }, async (order) => ({ billed: order.id }));
   * broker.subscriber('logs.{level}', async (line: string, msg) => console.log(msg.path.level, line));
   */
  subscriber<Src extends SourceInput, S extends StandardSchemaV1>(
    source: Src,
    options: SubscriberOptions<S> & { readonly schema: S },
    handler: Handler<BodyFor<Src, InferOutput<S>>>,
  ): RedisSubscriber;
  subscriber<Src extends SourceInput>(source: Src, options: SubscriberOptions<undefined>, handler: UncheckedHandler<BodyFor<Src, unknown>>): RedisSubscriber;
  subscriber<Src extends SourceInput>(source: Src, handler: UncheckedHandler<BodyFor<Src, unknown>>): RedisSubscriber;
  /** Without a handler: read its messages with `await sub.getOne()` or `for await (const msg of sub)`, after `await sub.start()`. */
  subscriber<Src extends SourceInput>(source: Src, options?: SubscriberOptions): RedisSubscriber;
  subscriber(source: SourceInput, optionsOrHandler?: SubscriberOptions | UncheckedHandler<never>, maybeHandler?: UncheckedHandler<never>): RedisSubscriber {
    const [options, handler] = typeof optionsOrHandler === 'function' ? [{}, optionsOrHandler] : [optionsOrHandler ?? {}, maybeHandler];
    const subscriber = new RedisSubscriber(source, options, handler as Handler);
    this.registerSubscriber(subscriber);
    return subscriber;
  }

  /**
   * Creates a publisher object for a channel, list or stream.
   * @example
   * const audit = broker.publisher({ stream: 'audit' });
   * broker.subscriber('orders', { publishers: [audit] }, async (order) => ({ seen: order }));
   */
  publisher(target: string | Target | Source, options: PublisherOptions = {}): RedisPublisher {
    const publisher = new RedisPublisher(target, options);
    this.registerPublisher(publisher);
    return publisher;
  }

  protected registerSubscriber(subscriber: RedisSubscriber): void {
    this.addSubscriber(subscriber);
  }

  protected registerPublisher(publisher: RedisPublisher): void {
    this.addPublisher(publisher);
  }
}
