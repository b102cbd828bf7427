/**
 * RedisBroker: subscribers, publishers, publish / publishBatch / request / pipeline on one
 * Redis node. Topology lives in the connection strategy; the cluster and Sentinel brokers
 * differ only in the strategy they create.
 */
import { randomUUID } from 'node:crypto';
import { AckPolicy } from '../core/ack.js';
import { encodeMessage, type OutgoingFields } from '../core/codec/wire.js';
import type { ConsumerConfig } from '../core/consume.js';
import { OptionError, rejectWith, SetupError } from '../core/errors.js';
import { Lifecycle, type BrokerState } from '../core/lifecycle.js';
import { resolveLogger, type Logger } from '../core/logger.js';
import type { Message } from '../core/message.js';
import { compose, instantiate, publishScopes, type Middleware, type PublishCommand } from '../core/middleware.js';
import type { IncludeOptions, Resolved } from '../core/registry.js';
import { settlesWithin } from '../core/time.js';
import type { ConnectionStrategy } from './connection/strategy.js';
import { SingleNodeStrategy } from './connection/single.js';
import { brokerKeys, resolveConnection, resolveSettings, type BrokerSettings, type ConnectionConfig, type RedisBrokerOptions } from './options.js';
import { finishPipeline, RedisPipeline } from './pipeline.js';
import { RedisProducer, type PublishResult } from './producer.js';
import { RedisRegistrator } from './registrator.js';
import { publishKeys, type PublishOptions, type PublisherHost, type RedisPublisher, type RedisSubscriber } from './registration.js';
import { ReplyInbox, SHARDED_REPLY } from './rpc.js';
import { checkInt, checkKeys, type Source } from './sources.js';
import { ChannelSubscriber } from './subscriber/channel.js';
import { PubSubHub } from './subscriber/hub.js';
import { ListSubscriber } from './subscriber/list.js';
import type { RuntimeSubscriber } from './subscriber/runtime.js';
import { StreamSubscriber } from './subscriber/stream.js';
import { toDestination, type ChannelTarget, type Destination, type ListTarget, type StreamTarget, type Target } from './targets.js';

/** Options of `broker.request()`. */
export interface RequestOptions {
  /** How long to wait for the reply, in ms. @defaultValue `30000` */
  readonly timeout?: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly correlationId?: string;
  /** Trim the stream when the request goes to one. */
  readonly maxlen?: number;
}

/** Options of `broker.pipeline()`. */
export interface PipelineOptions {
  /** Wrap the commands in MULTI/EXEC (all keys must be on one node). @defaultValue `false` */
  readonly atomic?: boolean;
}

export class RedisBroker extends RedisRegistrator implements PublisherHost {
  readonly logger: Logger;
  protected readonly connection: ConnectionConfig;
  readonly #settings: BrokerSettings;
  readonly #lifecycle: Lifecycle;
  readonly #ownStrategy: ConnectionStrategy;
  #strategy!: ConnectionStrategy;
  #producer!: RedisProducer;
  #hub!: PubSubHub;
  #inbox!: ReplyInbox;
  #running: RuntimeSubscriber[] = [];

  /**
   * @param url `redis://[user:password@]host:port[/db]` or `rediss://…` for TLS. @defaultValue `'redis://localhost:6379'`
   * @param options explicit options override what the URL says.
   * @example new RedisBroker('redis://localhost:6379', { gracefulTimeout: 5_000, logger: null })
   */
  constructor(url?: string | RedisBrokerOptions, options: RedisBrokerOptions = {}) {
    const [address, opts] = typeof url === 'object' ? [undefined, url] : [url, options];
    super({ middlewares: opts.middlewares ?? [], ...(opts.ackPolicy === undefined ? {} : { ackPolicy: opts.ackPolicy }) });
    this.logger = resolveLogger(opts.logger);
    this.connection = resolveConnection(address, opts, this.optionKeys());
    this.#settings = resolveSettings(opts, randomUUID);
    this.#ownStrategy = this.createStrategy(this.connection, opts);
    this.#wire(this.#ownStrategy);
    this.#lifecycle = new Lifecycle({
      connect: () => this.#strategy.connect(),
      start: () => this.#startSubscribers(),
      stop: () => this.#stopSubscribers(),
      disconnect: () => this.#disconnect(),
    });
  }

  /** Option names this broker accepts; subclasses add theirs. */
  protected optionKeys(): readonly string[] {
    return brokerKeys;
  }

  /** The topology seam: the cluster and Sentinel brokers return their own strategy. */
  protected createStrategy(config: ConnectionConfig, _options: RedisBrokerOptions): ConnectionStrategy {
    return new SingleNodeStrategy(config, this.logger);
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

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Whether Redis answers PING within `timeout` ms; false when not connected. */
  async ping(timeout = 3000): Promise<boolean> {
    if (this.state !== 'connected' && this.state !== 'running') return false;
    const pong = this.#strategy.commands.send('PING', '', []).then((reply) => String(reply) === 'PONG', () => false);
    if (!(await settlesWithin(pong, timeout))) return false;
    return pong;
  }

  override includeRouter(router: RedisRegistrator, options: IncludeOptions = {}): void {
    super.includeRouter(router, options);
    this.#bindPublishers();
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
      if (typeof target === 'string') return this.#send('publish', toDestination(target), message, NO_OPTIONS, false);
      return this.#send('publish', toDestination(target), message, splitOptions(target, publishKeys), false);
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
    const rest = splitOptions(options, publishKeys.filter((k) => k !== 'maxlen'));
    return (await this.#send('publish', destination, messages, rest, true)) as number | undefined;
  }

  /**
   * Publishes and waits for the consumer's answer on this broker's reply inbox.
   * @example const reply = await broker.request({ id: 'a1' }, { channel: 'rpc', timeout: 3_000 })
   */
  async request(message: unknown, options: Target & RequestOptions): Promise<Message> {
    const { timeout: rawTimeout, ...rest } = splitOptions(options, ['timeout', 'headers', 'correlationId', 'maxlen']);
    const timeout = checkInt('timeout', rawTimeout ?? 30_000, 1);
    const destination = toDestination(options);
    await this.#lifecycle.ensureConnected('request');
    const sharded = this.#strategy.topology === 'cluster';
    await this.#inbox.listen(sharded);
    const correlationId = rest.correlationId ?? this.#settings.idGenerator();
    const reply = this.#inbox.expect(correlationId, timeout, `${destination.kind} "${destination.name}"`);
    const headers = sharded ? { ...rest.headers, [SHARDED_REPLY]: '1' } : { ...rest.headers };
    try {
      await this.#send('request', destination, message, { ...rest, headers, correlationId, replyTo: this.#inbox.channel }, false);
    } catch (error) {
      this.#inbox.cancel(correlationId);
      throw error;
    }
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
   * undefined goes back to the broker's own.
   */
  useStrategy(strategy: ConnectionStrategy | undefined): void {
    if (this.state !== 'idle') throw new SetupError(`A broker can change its connection only while idle; it is ${this.state}. Stop it first.`);
    this.#wire(strategy ?? this.#ownStrategy);
  }

  /** @internal Every subscriber and publisher registered here or in included routers. */
  registrations(): { subscribers: RedisSubscriber[]; publishers: RedisPublisher[] } {
    return { subscribers: this.resolveSubscribers().map((r) => r.item), publishers: this.resolvePublishers().map((r) => r.item) };
  }

  /** @internal Publisher objects send through here. */
  sendTo(destination: Destination, body: unknown, options: PublishOptions, middlewares: readonly Middleware[] | undefined): Promise<PublishResult | undefined> {
    return this.#send('publish', destination, body, options, false, middlewares);
  }

  protected override registerSubscriber(subscriber: RedisSubscriber): void {
    if (this.state === 'running') {
      throw new SetupError(`Subscriber "${subscriber.source.name}" was registered while the broker runs; register it before start(), or stop() first.`);
    }
    super.registerSubscriber(subscriber);
  }

  protected override registerPublisher(publisher: RedisPublisher): void {
    super.registerPublisher(publisher);
    publisher.bind(this, this.prefix);
  }

  #send(
    type: PublishCommand['type'],
    destination: Destination,
    body: unknown,
    options: PublishOptions,
    batch: boolean,
    middlewares?: readonly Middleware[],
  ): Promise<PublishResult | undefined> {
    if (options.maxlen !== undefined && destination.kind !== 'stream') {
      return Promise.reject(new OptionError('maxlen', options.maxlen, `unset when publishing to ${destination.kind} "${destination.name}" (streams only)`));
    }
    // Already connected is the hot case: no extra await for it.
    if (!options.pipeline && this.state !== 'connected' && this.state !== 'running') {
      return this.#lifecycle.ensureConnected('publish').then(() => this.#encodeAndSend(type, destination, body, options, batch, middlewares));
    }
    try {
      return this.#encodeAndSend(type, destination, body, options, batch, middlewares);
    } catch (error) {
      return rejectWith(error);
    }
  }

  #encodeAndSend(
    type: PublishCommand['type'],
    destination: Destination,
    body: unknown,
    options: PublishOptions,
    batch: boolean,
    middlewares: readonly Middleware[] | undefined,
  ): Promise<PublishResult | undefined> {
    const correlationId = options.correlationId ?? this.#settings.idGenerator();
    const maxlen = options.maxlen ?? destination.maxlen;
    // Without middlewares nothing can change the publish: encode and send, no command object.
    if ((middlewares ?? this.middlewares).length === 0) {
      return this.#deliver(destination, body, batch, { correlationId, replyTo: options.replyTo, headers: options.headers }, maxlen, options.pipeline);
    }
    const command: PublishCommand = {
      type,
      destination: destination.name,
      destinationType: destination.kind,
      body,
      batch,
      headers: { ...options.headers },
      correlationId,
      replyTo: options.replyTo ?? '',
    };
    const scopes = publishScopes(middlewares ?? instantiate(this.middlewares, undefined));
    const run = compose(scopes, (cmd: PublishCommand) =>
      this.#deliver(destination, cmd.body, cmd.batch, { correlationId: cmd.correlationId, replyTo: cmd.replyTo, headers: cmd.headers }, maxlen, options.pipeline),
    );
    return run(command) as Promise<PublishResult | undefined>;
  }

  /** Encodes the body (every item of a batch) and hands the envelopes to the producer. */
  #deliver(
    destination: Destination,
    body: unknown,
    batch: boolean,
    fields: OutgoingFields,
    maxlen: number | undefined,
    pipeline: RedisPipeline | undefined,
  ): Promise<PublishResult | undefined> {
    const envelopes = batch ? (body as unknown[]).map((item) => encodeMessage(item, fields)) : [encodeMessage(body, fields)];
    return this.#producer.send(destination, envelopes, maxlen, pipeline);
  }

  async #startSubscribers(): Promise<void> {
    this.#bindPublishers();
    const runtime = this.resolveSubscribers().map((resolved) => this.#materialize(resolved));
    this.#running = runtime;
    await Promise.all(runtime.map((subscriber) => subscriber.start()));
    for (const subscriber of runtime) this.logger.info({ subscriber: subscriber.name }, 'waiting for messages');
  }

  async #stopSubscribers(): Promise<void> {
    const running = this.#running;
    this.#running = [];
    await Promise.all(running.map((subscriber) => subscriber.stop(this.#settings.gracefulTimeout)));
  }

  async #disconnect(): Promise<void> {
    await this.#inbox.close();
    await this.#hub.close();
    await this.#strategy.close();
  }

  #wire(strategy: ConnectionStrategy): void {
    this.#strategy = strategy;
    this.#producer = new RedisProducer(strategy);
    this.#hub = new PubSubHub(strategy);
    this.#inbox = new ReplyInbox(this.#hub, this.logger);
  }

  #bindPublishers(): void {
    for (const { item, prefix } of this.resolvePublishers()) item.bind(this, prefix);
  }

  #materialize(resolved: Resolved<RedisSubscriber>): RuntimeSubscriber {
    const { item: subscriber } = resolved;
    const source: Source = subscriber.source.withPrefix(resolved.prefix);
    const config: ConsumerConfig = {
      name: source.name,
      handler: subscriber.runnable,
      schema: subscriber.options.schema,
      middlewares: [...resolved.middlewares, ...(subscriber.options.middlewares ?? [])],
      ackPolicy: subscriber.options.ackPolicy ?? resolved.ackPolicy ?? AckPolicy.NACK_ON_ERROR,
      logger: this.logger,
      emit: (response, message, middlewares) => this.#emit(subscriber, response.body, response.headers, response.correlationId ?? message.correlationId, message, middlewares),
    };
    const maxWorkers = subscriber.options.maxWorkers ?? 1;
    const deps = { strategy: this.#strategy, config, logger: this.logger, maxWorkers };
    if (source.kind === 'channel') return new ChannelSubscriber(source, this.#hub, config, this.logger, maxWorkers);
    if (source.kind === 'list') return new ListSubscriber(source, deps);
    return new StreamSubscriber(source, deps);
  }

  async #emit(
    subscriber: RedisSubscriber,
    body: unknown,
    headers: Record<string, string>,
    correlationId: string,
    message: Message,
    middlewares: readonly Middleware[],
  ): Promise<void> {
    if (message.replyTo && !subscriber.options.noReply) {
      const sharded = message.headers[SHARDED_REPLY] === '1';
      const inbox: Destination = { kind: 'channel', name: message.replyTo, sharded, maxlen: undefined };
      await this.#send('reply', inbox, body, { headers, correlationId }, false, middlewares);
    }
    for (const publisher of subscriber.options.publishers ?? []) {
      await publisher.send(body, { headers, correlationId }, middlewares);
    }
  }
}

const NO_OPTIONS: PublishOptions = Object.freeze({});

/** The publish options part of `{ channel | list | stream, ...options }`, checked by name. */
function splitOptions<T extends object>(input: T, known: readonly string[]): PublishOptions & { timeout?: number } {
  const options: Record<string, unknown> = {};
  const record = input as Record<string, unknown>;
  for (const key in record) {
    if (key === 'channel' || key === 'list' || key === 'stream') continue;
    if (!known.includes(key)) throw new SetupError(`Unknown option \`${key}\`. Known options: channel, list, stream, ${known.join(', ')}.`);
    if (record[key] !== undefined) options[key] = record[key];
  }
  return options;
}
