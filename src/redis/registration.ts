/**
 * What `subscriber()` and `publisher()` register on a broker or router, checked at
 * registration time so a wrong option fails where it is written.
 */
import { isAckPolicy, type AckPolicy } from '../core/ack.js';
import type { Handler, UncheckedHandler } from '../core/consume.js';
import type { Logger } from '../core/logger.js';
import { Mailbox } from '../core/mailbox.js';
import type { Message } from '../core/message.js';
import { OptionError, SetupError } from '../core/errors.js';
import type { Middleware, MiddlewareLike } from '../core/middleware.js';
import { isStandardSchema, type StandardSchemaV1 } from '../core/schema.js';
import type { PublishOptions, PublishResult } from './producer/producer.js';
import { checkInt, checkKeys, type Source } from './sources.js';
import { toDestination, toSource, type Destination, type SourceInput, type Target } from './targets.js';

/** Options of `broker.subscriber(source, options, handler)`. */
export interface SubscriberOptions<S extends StandardSchemaV1 | undefined = StandardSchemaV1 | undefined> {
  /** Standard Schema (zod, valibot, arktype…) the body must match; the handler's body type is inferred from it. */
  readonly schema?: S;
  /** Middlewares for this subscriber only (innermost). */
  readonly middlewares?: readonly MiddlewareLike[];
  /** Ack policy for a stream group subscriber. @defaultValue the router's or broker's, else `'nackOnError'` */
  readonly ackPolicy?: AckPolicy;
  /** Do not answer `reply_to` with the handler's return value. @defaultValue `false` */
  readonly noReply?: boolean;
  /**
   * Messages processed at once. A read asks for no more messages than there are workers to run
   * them (back-pressure); at most one read sent ahead may wait for them (see the README's
   * "Concurrency"). With 1, messages are processed one after another, in order. A batch counts as one.
   * @defaultValue `1`
   */
  readonly maxWorkers?: number;
  /** Publishers that receive the handler's return value. */
  readonly publishers?: readonly RedisPublisher[];
  /** Name in the AsyncAPI document. */
  readonly title?: string;
  /** Description in the AsyncAPI document. */
  readonly description?: string;
  /** `false` leaves it out of the AsyncAPI document. @defaultValue `true` */
  readonly includeInSchema?: boolean;
}

const subscriberKeys = ['schema', 'middlewares', 'ackPolicy', 'noReply', 'maxWorkers', 'publishers', 'title', 'description', 'includeInSchema'];

/**
 * A registered subscriber: where it reads, how, and its handler. Made by `broker.subscriber()` or
 * `router.subscriber()`; the value to hand to `TestRedisBroker.spy()`.
 */
export class RedisSubscriber {
  readonly source: Source;
  readonly options: SubscriberOptions;
  readonly handler: Handler;
  /** @internal Where messages wait when the subscriber was registered without a handler. */
  readonly mailbox: Mailbox | undefined;
  #wrap: ((handler: Handler) => Handler) | undefined;
  #control: SubscriberControl | undefined;
  readonly #routes: Route[] = [];

  constructor(input: SourceInput, options: SubscriberOptions, handler: Handler | undefined) {
    this.source = toSource(input);
    checkKeys(`subscriber "${this.source.name}"`, options, subscriberKeys);
    if (handler !== undefined && typeof handler !== 'function') throw new OptionError('handler', handler, 'a function (body, message) => result');
    if (options.schema !== undefined && !isStandardSchema(options.schema)) {
      throw new OptionError('schema', options.schema, 'a Standard Schema (zod, valibot, arktype, …)');
    }
    if (options.ackPolicy !== undefined) {
      if (!isAckPolicy(options.ackPolicy)) {
        throw new OptionError('ackPolicy', options.ackPolicy, 'one of ackFirst, ack, rejectOnError, nackOnError, manual');
      }
      if (this.source.kind !== 'stream' || this.source.group === undefined || this.source.noAck) {
        throw new OptionError(
          'ackPolicy',
          options.ackPolicy,
          `unset on "${this.source.name}": only stream subscribers with a group (and without noAck) acknowledge; channel and list messages are gone once read`,
        );
      }
    }
    if (options.maxWorkers !== undefined) checkInt('maxWorkers', options.maxWorkers, 1);
    checkDocs(options);
    for (const publisher of options.publishers ?? []) {
      if (!(publisher instanceof RedisPublisher)) throw new OptionError('publishers', publisher, 'publishers made with broker.publisher() or router.publisher()');
    }
    this.options = options;
    this.mailbox = handler === undefined ? new Mailbox() : undefined;
    this.handler = handler ?? this.mailbox!.handler;
  }

  /**
   * The next message of a subscriber registered without a handler, waiting up to `timeout` ms;
   * undefined when none came. The ack policy applies to it as it is handed out. Middlewares run.
   * @example const msg = await sub.getOne({ timeout: 1_000 });
   */
  async getOne(options: { readonly timeout?: number } = {}): Promise<Message | undefined> {
    const delivery = await this.#handlerless('getOne()').take(checkInt('timeout', options.timeout ?? 5000, 0));
    delivery?.release();
    return delivery?.message;
  }

  /**
   * `for await (const msg of sub)` over a subscriber registered without a handler: each message
   * is settled per the ack policy when the loop body finished (or by `msg.ack()` in it); leaving
   * the loop stops the subscriber. Ends when the subscriber stops.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<Message, void, undefined> {
    const mailbox = this.#handlerless('for await');
    try {
      for (;;) {
        const delivery = await mailbox.take();
        if (!delivery) return;
        try {
          yield delivery.message;
        } finally {
          delivery.release();
        }
      }
    } finally {
      await this.stop();
    }
  }

  #handlerless(what: string): Mailbox {
    if (!this.mailbox || this.#routes.length > 0) throw new SetupError(`${what} reads a subscriber registered without a handler; "${this.source.name}" has one.`);
    return this.mailbox;
  }

  /**
   * Starts this subscriber alone: for one added to a running broker (the broker's `start()` starts
   * all the others), or one stopped by `stop()` or `StopConsume`. Resolves once it listens.
   * Connects the broker if needed.
   */
  start(): Promise<void> {
    if (!this.#control) return Promise.reject(new SetupError(`Subscriber "${this.source.name}" belongs to a router that no broker includes yet; call broker.includeRouter() first.`));
    return this.#control.start(this);
  }

  /** Whether it is running now (between its start and its stop, or its broker's). */
  get running(): boolean {
    return this.#control?.running(this) ?? false;
  }

  /** Stops this subscriber alone, letting its in-flight messages finish (within the broker's `gracefulTimeout`). */
  stop(): Promise<void> {
    return this.#control ? this.#control.stop(this) : Promise.resolve();
  }

  /** `await using sub = broker.subscriber(…)` stops it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  /** @internal Attaches the subscriber to the broker that runs it. */
  attach(control: SubscriberControl): void {
    if (this.#control && this.#control !== control) throw new SetupError(`Subscriber "${this.source.name}" is already registered on another broker.`);
    this.#control = control;
  }

  /**
   * Adds a handler, tried in the order added: the first whose `filter` accepts a message handles
   * it (no filter accepts every message). A message no handler accepts is logged (once per
   * subscriber) and settled as handled, per the ack policy. On a subscriber registered without a
   * handler, its messages then go to these handlers instead of `getOne()`.
   * @example
   * const orders = broker.subscriber({ stream: 'orders' });
   * orders.handle((order) => refund(order), { filter: (msg) => msg.headers['kind'] === 'refund' });
   * orders.handle((order) => bill(order));
   */
  handle(handler: UncheckedHandler<unknown>, options: { readonly filter?: (message: Message) => boolean } = {}): this {
    if (typeof handler !== 'function') throw new OptionError('handler', handler, 'a function (body, message) => result');
    if (options.filter !== undefined && typeof options.filter !== 'function') throw new OptionError('filter', options.filter, 'a function (message) => boolean');
    if (this.#routes.length === 0 && !this.mailbox) this.#routes.push({ handler: this.handler, filter: undefined });
    this.#routes.push({ handler, filter: options.filter });
    return this;
  }

  /** @internal The handler the broker runs: the user's (or the first that accepts, with several), or wrapped by a TestRedisBroker spy. */
  runnable(logger: Logger): Handler {
    const handler = this.#routes.length === 0 ? this.handler : dispatch(this.#routes, this.source.name, logger);
    return this.#wrap ? this.#wrap(handler) : handler;
  }

  /** @internal Wraps (or, with undefined, unwraps) the handler for the next start. */
  intercept(wrap: ((handler: Handler) => Handler) | undefined): void {
    this.#wrap = wrap;
  }
}

function checkDocs(options: { readonly title?: unknown; readonly description?: unknown; readonly includeInSchema?: unknown }): void {
  for (const key of ['title', 'description'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'string') throw new OptionError(key, options[key], 'a string');
  }
  if (options.includeInSchema !== undefined && typeof options.includeInSchema !== 'boolean') {
    throw new OptionError('includeInSchema', options.includeInSchema, 'true or false');
  }
}


/** Options of `broker.publisher(target, options)`. */
export interface PublisherOptions {
  /** Headers on every message; call headers win. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly replyTo?: string;
  /** Describes the payload (AsyncAPI); not enforced on publish. */
  readonly schema?: StandardSchemaV1;
  /** Name in the AsyncAPI document. */
  readonly title?: string;
  /** Description in the AsyncAPI document. */
  readonly description?: string;
  /** `false` leaves it out of the AsyncAPI document. @defaultValue `true` */
  readonly includeInSchema?: boolean;
}

interface Route {
  readonly handler: Handler;
  readonly filter: ((message: Message) => boolean) | undefined;
}

/** The first route whose filter accepts the message handles it; no match is logged once and counts as handled. */
function dispatch(routes: readonly Route[], name: string, logger: Logger): Handler {
  let warned = false;
  return (body, message) => {
    for (const route of routes) if (!route.filter || route.filter(message)) return route.handler(body, message);
    if (!warned) {
      warned = true;
      logger.warn({ subscriber: name, messageId: message.messageId }, 'No handler of this subscriber accepts the message (their filters); it is settled as handled. Logged once.');
    }
    return undefined;
  };
}

/** How a registered subscriber is started and stopped on its own, by its broker. */
export interface SubscriberControl {
  start(subscriber: RedisSubscriber): Promise<void>;
  stop(subscriber: RedisSubscriber): Promise<void>;
  running(subscriber: RedisSubscriber): boolean;
}

/** How a bound publisher sends: through its broker's producer, within a handler's middlewares when given. */
export type PublisherSend = (destination: Destination, body: unknown, options: PublishOptions, scope: readonly Middleware[] | undefined) => Promise<PublishResult | undefined>;

/**
 * A publisher object: `publisher.publish(body)`, and the target of a subscriber's return value
 * when listed in its `publishers`. Made by `broker.publisher()` or `router.publisher()`.
 */
export class RedisPublisher {
  readonly options: PublisherOptions;
  readonly #destination: Destination;
  #host: PublisherSend | undefined;
  #observer: ((body: unknown) => void) | undefined;
  #prefix = '';

  constructor(target: string | Target | Source, options: PublisherOptions = {}) {
    this.#destination = toDestination(target);
    checkKeys(`publisher "${this.#destination.name}"`, options, ['headers', 'replyTo', 'schema', 'title', 'description', 'includeInSchema']);
    if (options.schema !== undefined && !isStandardSchema(options.schema)) {
      throw new OptionError('schema', options.schema, 'a Standard Schema (zod, valibot, arktype, …)');
    }
    checkDocs(options);
    this.options = options;
  }

  /** Where it publishes, with the prefixes of the routers it was included through. */
  get destination(): Destination {
    return this.#prefix ? { ...this.#destination, name: this.#prefix + this.#destination.name } : this.#destination;
  }

  /** Publishes one message; options override the publisher's own. */
  publish(body: unknown, options: PublishOptions = {}): Promise<PublishResult | undefined> {
    return this.send(body, options, undefined);
  }

  /** @internal Publishes within a handler's scope (its middlewares wrap the publish). */
  send(body: unknown, options: PublishOptions, middlewares: readonly Middleware[] | undefined): Promise<PublishResult | undefined> {
    if (!this.#host) {
      return Promise.reject(
        new SetupError(`Publisher to "${this.#destination.name}" belongs to a router that no broker includes yet; call broker.includeRouter() first.`),
      );
    }
    this.#observer?.(body);
    const merged: PublishOptions = {
      ...options,
      headers: { ...this.options.headers, ...options.headers },
      ...(options.replyTo === undefined && this.options.replyTo !== undefined ? { replyTo: this.options.replyTo } : {}),
    };
    return this.#host(this.destination, body, merged, middlewares);
  }

  /** @internal Attaches the publisher to the broker that owns it. */
  bind(host: PublisherSend, prefix: string): void {
    if (this.#host && this.#host !== host) throw new SetupError(`Publisher to "${this.#destination.name}" is already attached to another broker.`);
    this.#host = host;
    this.#prefix = prefix;
  }

  /** @internal Sees every body published through this publisher (TestRedisBroker spies). */
  observe(observer: ((body: unknown) => void) | undefined): void {
    this.#observer = observer;
  }
}

