import { randomUUID } from 'node:crypto';
import type { WireMessage } from './codec/wire.js';
import type { Context } from './context.js';

/** How a message was settled. */
export const AckStatus = {
  ACKED: 'acked',
  NACKED: 'nacked',
  REJECTED: 'rejected',
} as const;
/** One of the {@link AckStatus} values. */
export type AckStatus = (typeof AckStatus)[keyof typeof AckStatus];

/**
 * What the transport does to settle a message. Channel and list messages settle as no-ops.
 * `nack` and `reject` resolve to `'dead-lettered'` when they moved the message to a dead-letter stream.
 */
export interface Settler {
  ack(): Promise<void>;
  /** `reason`: why, when known (the handler's error); kept with a dead letter. */
  nack(reason: unknown, message: Message): Promise<void | 'dead-lettered'>;
  reject(reason: unknown, message: Message): Promise<void | 'dead-lettered'>;
}

/** An already settled promise, shared: settling a channel or list message allocates nothing. */
export const SETTLED: Promise<void> = Promise.resolve();

const noopSettler: Settler = {
  ack: () => SETTLED,
  nack: () => SETTLED,
  reject: () => SETTLED,
};

const NO_HEADERS: ReadonlyArray<Readonly<Record<string, string>>> = Object.freeze([]);
const NO_IDS: readonly string[] = Object.freeze([]);
const EMPTY_RECORD: Readonly<Record<string, string>> = Object.freeze({});
const EMPTY_BODY = Buffer.alloc(0);

/**
 * What a subscriber was registered as, for middlewares and logs: a bounded label for metrics (a pattern's
 * template, never each concrete channel) and how it reads.
 */
export interface SubscriberInfo {
  /** The full name as registered, with router prefixes: a channel, pattern template, list or stream. */
  readonly name: string;
  /** `channel`, `pattern`, `sharded` (sharded Pub/Sub), `list` or `stream`. */
  readonly kind: 'channel' | 'pattern' | 'sharded' | 'list' | 'stream';
  /** The consumer group of a stream subscriber. */
  readonly group: string | undefined;
  readonly batch: boolean;
}

/** Where a message came from. */
export interface MessageSource {
  readonly kind: 'channel' | 'list' | 'stream' | 'reply';
  /** The channel, list or stream name the message was read from. */
  readonly name: string;
}

/** What a transport knows about an incoming message. */
export interface MessageInit {
  readonly source: MessageSource;
  /** One item, or several for a batch. */
  readonly items: readonly WireMessage[];
  readonly batch: boolean;
  /** Transport IDs (stream entry IDs); the first is the message ID when given. */
  readonly ids?: readonly string[];
  readonly path?: Readonly<Record<string, string>>;
  readonly deliveryCount?: number | undefined;
  readonly settler?: Settler | undefined;
  readonly raw?: unknown;
  /** The subscriber that received it. */
  readonly subscriber?: SubscriberInfo | undefined;
  /** What the handler reaches through `msg.context`. */
  readonly context?: Context | undefined;
}

/**
 * The message a handler receives: decoded body, envelope fields, and first-call-wins settlement.
 * `body` is the decoded (and validated, when a schema is set) body.
 * `ack()`, `nack()` and `reject()`: the first call wins; later calls and automatic acking do nothing.
 */
export class Message<Body = unknown> {
  /** Decoded body; an array of bodies for batch subscribers. */
  body: Body;
  /** Every entry ID of a stream batch. */
  readonly messageIds: readonly string[];
  readonly contentType: string | undefined;
  /** Path params captured from a channel template such as `logs.{level}`. */
  readonly path: Readonly<Record<string, string>>;
  /** How often the entry was delivered to the group (stream groups only). */
  readonly deliveryCount: number | undefined;
  readonly source: MessageSource;
  /**
   * The subscriber that received it, as registered (a pattern's template, not the concrete
   * channel: see `source.name` for that); undefined for a reply to `request()`.
   */
  readonly subscriber: SubscriberInfo | undefined;
  /**
   * The broker's logger, the broker, and the application's values (the broker's `context` option);
   * see {@link Context}. Undefined for a reply to `request()`.
   */
  readonly context: Context | undefined;
  /** The transport's own representation, for debugging. */
  readonly raw: unknown;
  /** Payload bytes (after the envelope); one per item for a batch. */
  readonly rawBody: Buffer | readonly Buffer[];
  readonly items: readonly WireMessage[];
  readonly #batch: boolean;
  #batchHeaders: ReadonlyArray<Readonly<Record<string, string>>> | undefined;
  #correlationId: string | undefined;
  #status: AckStatus | undefined;
  #settler: Settler;
  #settling: Promise<void> | undefined;
  #deadLettered = false;

  constructor(init: MessageInit) {
    const first = init.items[0];
    this.items = init.items;
    this.#batch = init.batch;
    this.messageIds = init.ids ?? NO_IDS;
    this.contentType = first?.contentType;
    this.path = init.path ?? EMPTY_RECORD;
    this.deliveryCount = init.deliveryCount;
    this.source = init.source;
    this.subscriber = init.subscriber;
    this.context = init.context;
    this.raw = init.raw;
    this.rawBody = init.batch ? init.items.map((item) => item.payload) : (first?.payload ?? EMPTY_BODY);
    this.body = undefined as Body;
    this.#settler = init.settler ?? noopSettler;
  }

  // Headers and what comes from them are read on first use: most handlers never look.

  /** The envelope's headers (the first item's, for a batch). */
  get headers(): Readonly<Record<string, string>> {
    return this.items[0]?.headers ?? EMPTY_RECORD;
  }

  /** Per-item headers of a batch; empty for a single message. */
  get batchHeaders(): ReadonlyArray<Readonly<Record<string, string>>> {
    if (!this.#batch) return NO_HEADERS;
    return (this.#batchHeaders ??= this.items.map((item) => item.headers));
  }

  /** The `correlation_id` header; a fresh UUID (the same on every read) when there is none. */
  get correlationId(): string {
    return (this.#correlationId ??= this.headers['correlation_id'] ?? randomUUID());
  }

  /** Stream entry ID for stream messages; else the `message_id` header or the correlation ID. */
  get messageId(): string {
    return this.messageIds[0] ?? this.headers['message_id'] ?? this.correlationId;
  }

  /** The `reply_to` header, or `''`. */
  get replyTo(): string {
    return this.headers['reply_to'] ?? '';
  }

  /** @internal Whether its nack or reject moved it to the dead-letter stream (known once that settled). */
  get deadLettered(): boolean {
    return this.#deadLettered;
  }

  /** @internal The first settlement call's promise (its command's round trip), if one was made. */
  get settling(): Promise<void> | undefined {
    return this.#settling;
  }

  #track(result: Promise<void | 'dead-lettered'>): Promise<void> {
    const settling = result.then((how) => {
      if (how === 'dead-lettered') this.#deadLettered = true;
    });
    // The pipeline observes the outcome even when a handler does not await its own call.
    settling.catch(() => undefined);
    return (this.#settling = settling);
  }

  /** How the message was settled, if it was: the first call of ack(), nack() or reject() (or the ack policy's). */
  get status(): AckStatus | undefined {
    return this.#status;
  }

  /** Acknowledge: a stream entry is XACKed. No-op if already settled. */
  ack(): Promise<void> {
    if (this.#status !== undefined) return SETTLED;
    this.#status = AckStatus.ACKED;
    return (this.#settling = this.#settler.ack());
  }

  /**
   * Leave for redelivery: a stream entry stays pending (claimed after `minIdleTime`, drained on
   * restart); at `maxDeliveries` it is dead-lettered instead. No-op if already settled.
   * @param reason why, kept in the dead letter's headers if it comes to that
   */
  nack(reason?: unknown): Promise<void> {
    if (this.#status !== undefined) return SETTLED;
    this.#status = AckStatus.NACKED;
    return this.#track(this.#settler.nack(reason, this));
  }

  /**
   * Never redeliver: dead-letter where configured, then XACK. No-op if already settled.
   * @param reason why, kept in the dead letter's headers
   */
  reject(reason?: unknown): Promise<void> {
    if (this.#status !== undefined) return SETTLED;
    this.#status = AckStatus.REJECTED;
    return this.#track(this.#settler.reject(reason, this));
  }
}
