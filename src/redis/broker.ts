import { randomUUID } from 'node:crypto';
import { OptionError, rejectWith, SetupError } from '../core/errors.js';
import type { Context } from '../core/context.js';
import { Lifecycle, type BrokerState } from '../core/lifecycle.js';
import { resolveLogger, type Logger } from '../core/logger.js';
import type { Message } from '../core/message.js';
import type { IncludeOptions } from '../core/registry.js';
import { settlesWithin } from '../core/time.js';
import type { ConnectionStrategy, StrategyFactory } from './connection/strategy.js';
import { describePublisher, describeSubscriber, type BrokerDescription, type PublisherDescription, type ServerDescription } from './description.js';
import { resolveConnection, resolveSettings, brokerKeys, type BrokerSettings, type RedisBrokerOptions } from './options.js';
import { finishPipeline, RedisPipeline, type PipelineOptions } from './pipeline.js';
import { publishKeys, RedisProducer, type Publish, type PublishOptions, type PublishResult } from './producer/producer.js';
import { RedisRegistrator } from './registrator.js';
import type { PublisherSend, RedisPublisher, RedisSubscriber, SubscriberControl } from './registration.js';
import { ReplyInbox, SHARDED_REPLY, type RequestOptions } from './rpc.js';
import { checkInt, checkKeys } from './sources.js';
import { PubSubHub } from './subscriber/hub.js';
import { SharedReads } from './subscriber/shared.js';
import { RunningSubscribers } from './subscriber/running.js';
import { splitOptions, toDestination, type ChannelTarget, type Destination, type ListTarget, type StreamTarget, type Target } from './targets.js';
import { describeServer, singleNode, type Topology } from './topology.js';

/**
 * A broker on one Redis node: subscribers, publishers, and publish / publishBatch / request /
 * pipeline. `RedisClusterBroker` is the same broker with the cluster topology.
 *
 * `stop()` stops the subscribers and closes the connections; the broker can `start()` again.
 * `close()` does the same and refuses to start again (`await using` calls it).
 *
 * @example
 * const broker = new RedisBroker('redis://localhost:6379', { gracefulTimeout: 5_000 });
 * broker.subscriber({ stream: 'orders' }, async (order) => console.log(order));
 * await broker.start();
 */
export class RedisBroker extends RedisRegistrator {
  /** @internal The topology this class of broker runs on; the cluster broker names its own. */
  static readonly topology: Topology = singleNode;

  /** The logger given in the options (a console logger by default). */
  readonly logger: Logger;
  readonly #settings: BrokerSettings;
  readonly #server: ServerDescription;
  readonly #description: string | undefined;
  readonly #lifecycle: Lifecycle;
  readonly #ownFactory: StrategyFactory;
  readonly #publisherSend: PublisherSend;
  #strategy!: ConnectionStrategy;
  #producer!: RedisProducer;
  #hub!: PubSubHub;
  #shared: SharedReads | undefined;
  #inbox!: ReplyInbox;
  readonly #running: RunningSubscribers;
  readonly #control: SubscriberControl;

  /**
   * @param url `redis://[user:password@]host:port[/db]` or `rediss://…` for TLS. @defaultValue `'redis://localhost:6379'`
   * @param options explicit options override what the URL says.
   * @example new RedisBroker('redis://localhost:6379', { gracefulTimeout: 5_000, logger: null })
   */
  constructor(url?: string | RedisBrokerOptions, options: RedisBrokerOptions = {}) {
    const [address, opts] = typeof url === 'object' ? [undefined, url] : [url, options];
    super({ middlewares: opts.middlewares ?? [], ...(opts.ackPolicy === undefined ? {} : { ackPolicy: opts.ackPolicy }) });
    const topology = new.target.topology;
    this.logger = resolveLogger(opts.logger);
    const connection = resolveConnection(address, opts, [...brokerKeys, ...topology.optionKeys]);
    this.#settings = resolveSettings(opts, randomUUID);
    if (opts.description !== undefined && typeof opts.description !== 'string') throw new OptionError('description', opts.description, 'a string');
    this.#description = opts.description;
    this.#ownFactory = topology.factory(connection, opts, this.logger);
    this.#server = describeServer(topology, connection, opts);
    this.#publisherSend = (destination, body, publishOptions, scope) =>
      this.#producer.publish({ type: 'publish', destination, body, batch: false, options: publishOptions, scope });
    this.#wire(this.#ownFactory);
    if (opts.context !== undefined && (typeof opts.context !== 'object' || opts.context === null)) throw new OptionError('context', opts.context, 'an object of values for handlers');
    const context = { ...opts.context, logger: this.logger, broker: this } as Context;
    const deps = () => ({ strategy: this.#strategy, producer: this.#producer, hub: this.#hub, shared: this.#shared, logger: this.logger, context });
    this.#running = new RunningSubscribers(deps, this.#settings.gracefulTimeout, this.logger);
    this.#control = {
      start: async (subscriber) => {
        await this.#lifecycle.ensureConnected('start a subscriber');
        const described = this.describe().subscribers.filter((one) => one.subscriber === subscriber);
        await this.#running.start(described);
      },
      stop: (subscriber) => this.#running.stop(subscriber),
      running: (subscriber) => this.#running.has(subscriber),
    };
    this.#lifecycle = new Lifecycle({
      connect: () => this.#strategy.connect(),
      start: () => this.#running.start(this.describe().subscribers),
      stop: () => this.#running.stopAll(),
      disconnect: () => this.#disconnect(),
    });
  }

  /** `idle`, `connected`, `running` or `closed`. */
  get state(): BrokerState {
    return this.#lifecycle.state;
  }

  /** Opens the command connection (publishing also connects lazily). Idempotent. */
  connect(): Promise<void> {
    return this.#lifecycle.connect();
  }

  /** Connects and starts every subscriber; resolves once each one really listens. Idempotent. */
  start(): Promise<void> {
    return this.#lifecycle.start();
  }

  /** Stops reading, waits up to `gracefulTimeout` for in-flight handlers, settles them, closes connections. */
  stop(): Promise<void> {
    return this.#lifecycle.stop();
  }

  /** Stops, and refuses to start again. */
  close(): Promise<void> {
    return this.#lifecycle.close();
  }

  /** `await using broker = new RedisBroker(…)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Whether Redis answers PING within `timeout` ms: false when not connected, on any error, or
   * when the answer is late. Never throws, never waits past the timeout (for health checks).
   */
  async ping(timeout = 3000): Promise<boolean> {
    if (this.state !== 'connected' && this.state !== 'running') return false;
    let pong: Promise<boolean>;
    try {
      pong = this.#strategy.commands.send('PING', '', []).then((reply) => String(reply) === 'PONG', () => false);
    } catch {
      return false;
    }
    if (!(await settlesWithin(pong, timeout))) return false;
    return pong;
  }

  /**
   * Includes a router: its subscribers and publishers become the broker's. Only before `start()`
   * (or after `stop()`): a running broker would not start the router's subscribers.
   */
  override includeRouter(router: RedisRegistrator, options: IncludeOptions = {}): void {
    if (this.state === 'running') {
      throw new SetupError('includeRouter() was called while the broker runs; include routers before start(), or stop() first.');
    }
    super.includeRouter(router, options);
    this.#bindPublishers();
  }

  /**
   * Everything registered on the broker and the routers it includes, resolved: full names with
   * prefixes, kinds, groups, schemas, ack policies, publishers and documentation fields, and where
   * the broker connects (never a credential). Subscribers start from it; AsyncAPI reads it.
   */
  describe(): BrokerDescription {
    this.#bindPublishers();
    const publishers = this.resolvePublishers().map((resolved) => describePublisher(resolved.item, resolved.includeInSchema));
    const byObject = new Map(publishers.map((described) => [described.publisher, described]));
    const publisherOf = (publisher: RedisPublisher): PublisherDescription => byObject.get(publisher) ?? describePublisher(publisher);
    return {
      server: this.#server,
      description: this.#description,
      subscribers: this.resolveSubscribers().map((resolved) => describeSubscriber(resolved, publisherOf)),
      publishers,
    };
  }

  /**
   * Publishes one message. Returns the receiver count (channel), the list length (list), the entry ID
   * (stream), or undefined when queued on a pipeline.
   * @example await broker.publish({ id: 'a1' }, { stream: 'orders', maxlen: 100_000 })
   */
  publish(message: unknown, target: string): Promise<number>;
  publish(message: unknown, options: Target & PublishOptions & { readonly pipeline: RedisPipeline }): Promise<undefined>;
  publish(message: unknown, options: StreamTarget & PublishOptions): Promise<string>;
  publish(message: unknown, options: (ChannelTarget | ListTarget) & Omit<PublishOptions, 'maxlen'>): Promise<number>;
  publish(message: unknown, target: string | (Target & PublishOptions)): Promise<PublishResult | undefined> {
    try {
      const options = typeof target === 'string' ? NO_OPTIONS : splitOptions<PublishOptions>(target, publishKeys);
      return this.#producer.publish({ type: 'publish', destination: toDestination(target), body: message, batch: false, options });
    } catch (error) {
      return rejectWith(error);
    }
  }

  /**
   * Pushes several messages to a list in one RPUSH; they share correlation ID and headers.
   * @example await broker.publishBatch(['a', { b: 2 }], { list: 'jobs' })
   */
  async publishBatch(messages: readonly unknown[], options: ListTarget & Omit<PublishOptions, 'maxlen'>): Promise<number | undefined> {
    if (!Array.isArray(messages)) throw new OptionError('messages', messages, 'an array of message bodies');
    const destination = toDestination(options);
    if (destination.kind !== 'list') throw new OptionError('list', undefined, 'set: publishBatch() pushes to a list');
    if (messages.length === 0) return undefined;
    const rest = splitOptions<PublishOptions>(options, publishKeys.filter((k) => k !== 'maxlen'));
    return (await this.#producer.publish({ type: 'publish', destination, body: messages, batch: true, options: rest })) as number | undefined;
  }

  /**
   * Publishes and waits for the consumer's answer on this broker's reply inbox.
   * @example const reply = await broker.request({ id: 'a1' }, { channel: 'rpc', timeout: 3_000 })
   */
  request(message: unknown, options: Target & RequestOptions): Promise<Message> {
    let timeout: number;
    let rest: Omit<RequestOptions, 'timeout'>;
    let destination: Destination;
    try {
      const { timeout: rawTimeout, ...others } = splitOptions<RequestOptions>(options, ['timeout', 'headers', 'correlationId', 'maxlen', 'key']);
      timeout = checkInt('timeout', rawTimeout ?? 30_000, 1);
      rest = others;
      destination = toDestination(options);
    } catch (error) {
      return rejectWith(error);
    }
    // Connected and listening already is the hot case: no await for it.
    const connected = this.#ready('request');
    const sharded = this.#strategy.shardedReplies;
    const listening = connected ? connected.then(() => this.#inbox.listen(sharded)) : this.#inbox.listen(sharded);
    if (listening) return listening.then(() => this.#request(message, destination, timeout, rest, sharded));
    return this.#request(message, destination, timeout, rest, sharded);
  }

  /** Nothing when connected already (the hot case makes no promise), else the connection under way. */
  #ready(what: string): Promise<void> | undefined {
    return this.state === 'connected' || this.state === 'running' ? undefined : this.#lifecycle.ensureConnected(what);
  }

  #request(message: unknown, destination: Destination, timeout: number, rest: Omit<RequestOptions, 'timeout'>, sharded: boolean): Promise<Message> {
    const correlationId = rest.correlationId ?? this.#settings.idGenerator();
    // Two requests waiting under one ID could not be told apart when a reply comes.
    if (this.#inbox.waits(correlationId)) {
      return rejectWith(new OptionError('correlationId', correlationId, 'unique among requests still waiting for a reply (leave it unset for a fresh one)'));
    }
    const reply = this.#inbox.expect(correlationId, timeout, `${destination.kind} "${destination.name}"`);
    const headers = sharded ? { ...rest.headers, [SHARDED_REPLY]: '1' } : { ...rest.headers };
    const publish: Publish = { type: 'request', destination, body: message, batch: false, options: { ...rest, headers, correlationId, replyTo: this.#inbox.channel } };
    // The timeout counts from the call, even while the publish itself is stuck (Redis stalled);
    // whichever fails first is what the caller gets, and nothing is left unhandled.
    this.#producer.publish(publish).catch((error: unknown) => this.#inbox.fail(correlationId, error));
    return reply;
  }

  /**
   * Runs `build`, then sends every publish it queued with `{ pipeline: pipe }` in one round trip.
   * Nothing is sent if `build` throws. Resolves to each command's result, in call order.
   */
  async pipeline(build: (pipe: RedisPipeline) => void | Promise<void>, options: PipelineOptions = {}): Promise<unknown[]> {
    checkKeys('broker.pipeline()', options, ['atomic']);
    const pipe = new RedisPipeline();
    try {
      await build(pipe);
    } catch (error) {
      pipe.seal();
      throw error;
    }
    const { commands, transforms } = pipe.seal();
    if (commands.length === 0) return [];
    await this.#lifecycle.ensureConnected('run a pipeline');
    return finishPipeline(await this.#strategy.exec(commands, options.atomic ?? false), transforms);
  }

  /**
   * @internal TestRedisBroker runs the broker on another strategy (in memory) while it is idle;
   * undefined goes back to the broker's own topology.
   */
  useStrategy(factory: StrategyFactory | undefined): void {
    if (this.state !== 'idle') throw new SetupError(`A broker can change its connection only while idle; it is ${this.state}. Stop it first.`);
    this.#wire(factory ?? this.#ownFactory);
  }

  /** A subscriber added while the broker runs starts with `await subscriber.start()`. */
  protected override registerSubscriber(subscriber: RedisSubscriber): void {
    super.registerSubscriber(subscriber);
    subscriber.attach(this.#control);
  }

  protected override registerPublisher(publisher: RedisPublisher): void {
    super.registerPublisher(publisher);
    publisher.bind(this.#publisherSend, this.prefix);
  }

  async #disconnect(): Promise<void> {
    await this.#inbox.close();
    await this.#hub.close();
    await this.#strategy.close();
  }

  #wire(factory: StrategyFactory): void {
    const strategy = factory();
    this.#strategy = strategy;
    this.#producer = new RedisProducer({
      strategy,
      logger: this.logger,
      middlewares: this.middlewares,
      idGenerator: this.#settings.idGenerator,
      ready: (what) => this.#ready(what),
    });
    this.#hub = new PubSubHub(strategy);
    const reading = strategy.shared;
    this.#shared = reading && new SharedReads(strategy, reading, this.#hub, this.#settings.foreignPollInterval, this.logger);
    this.#inbox = new ReplyInbox(this.#hub, this.logger);
  }

  #bindPublishers(): void {
    for (const { item, prefix } of this.resolvePublishers()) item.bind(this.#publisherSend, prefix);
    for (const { item } of this.resolveSubscribers()) item.attach(this.#control);
  }
}

const NO_OPTIONS: PublishOptions = Object.freeze({});

declare module '../core/context.js' {
  interface Context {
    /** The broker that received the message. */
    readonly broker: RedisBroker;
  }
}
