import { randomBytes } from 'node:crypto';
import { decodeBody } from '../core/codec/body.js';
import { parseWire } from '../core/codec/wire.js';
import { BrokerClosedError, RequestTimeoutError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { Message } from '../core/message.js';
import { Opening } from '../core/opening.js';
import type { PubSubHub } from './subscriber/hub.js';

/** Request header (value `1`) asking redstream responders to answer with SPUBLISH, to the inbox's shard. */
export const SHARDED_REPLY = 'x-redstream-reply-sharded';

interface Pending {
  resolve(message: Message): void;
  reject(error: unknown): void;
  timer: NodeJS.Timeout;
}

/**
 * One reply inbox per broker: a private channel every request names as `reply_to`; replies
 * are matched to requests by correlation ID. No SUBSCRIBE/UNSUBSCRIBE per request.
 *
 * On a cluster the inbox also listens with SSUBSCRIBE, and requests carry {@link SHARDED_REPLY}:
 * redstream responders then answer with SPUBLISH, which Redis passes only to the inbox's shard,
 * instead of a classic PUBLISH, which it sends to every node over the cluster bus. FastStream
 * responders ignore the header and answer with PUBLISH, which the inbox still receives.
 */
export class ReplyInbox {
  /** The channel replies come back on. */
  readonly channel = `redstream.reply.${randomBytes(12).toString('base64url')}`;
  readonly #hub: PubSubHub;
  readonly #logger: Logger;
  readonly #pending = new Map<string, Pending>();
  readonly #listening = new Opening<Array<() => Promise<void>>>();
  /** Whether the subscription is in place (#listening resolved). */
  #listened = false;

  constructor(hub: PubSubHub, logger: Logger) {
    this.#hub = hub;
    this.#logger = logger;
  }

  /**
   * Subscribes the inbox once (also sharded when asked); later calls reuse the subscription.
   * Undefined once it is listening (nothing to wait for).
   */
  listen(sharded: boolean): Promise<unknown> | undefined {
    if (this.#listened) return undefined;
    const deliver = (_channel: string, payload: Buffer): void => this.#deliver(payload);
    const kinds = sharded ? (['channel', 'sharded'] as const) : (['channel'] as const);
    return this.#listening.get(async () => {
      const unsubscribes = await Promise.all(kinds.map((kind) => this.#hub.subscribe(kind, this.channel, deliver)));
      this.#listened = true;
      return unsubscribes;
    });
  }

  /** Whether a request with this correlation ID still waits for its reply. */
  waits(correlationId: string): boolean {
    return this.#pending.has(correlationId);
  }

  /** Waits for the reply with `correlationId`; register before publishing the request. */
  expect(correlationId: string, timeout: number, destination: string): Promise<Message> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(correlationId);
        reject(new RequestTimeoutError(destination, timeout, correlationId));
      }, timeout);
      this.#pending.set(correlationId, { resolve, reject, timer });
    });
  }

  /** Fails a request whose publish failed, unless it already ended (timed out). */
  fail(correlationId: string, error: unknown): void {
    this.#take(correlationId)?.reject(error);
  }

  /** Fails every waiting request; the broker is going away. */
  async close(): Promise<void> {
    for (const id of [...this.#pending.keys()]) this.#take(id)?.reject(new BrokerClosedError('wait for a reply'));
    const listening = this.#listening.forget();
    this.#listened = false;
    const unsubscribes = (await listening?.catch(() => undefined)) ?? [];
    await Promise.all(unsubscribes.map((unsubscribe) => unsubscribe().catch(() => undefined)));
  }

  /** Removes a waiting request and stops its timer; undefined when none waits under that ID. */
  #take(correlationId: string): Pending | undefined {
    const pending = this.#pending.get(correlationId);
    if (!pending) return undefined;
    clearTimeout(pending.timer);
    this.#pending.delete(correlationId);
    return pending;
  }

  #deliver(payload: Buffer): void {
    const wire = parseWire(payload);
    const id = wire.headers['correlation_id'];
    const pending = id === undefined ? undefined : this.#take(id);
    if (!pending) {
      this.#logger.warn({ correlationId: id }, 'Reply with no waiting request (late, or its correlation_id was changed); dropped.');
      return;
    }
    const message = new Message({ source: { kind: 'reply', name: this.channel }, items: [wire], batch: false, raw: payload });
    try {
      message.body = decodeBody(wire.payload, wire.contentType);
      pending.resolve(message);
    } catch (error) {
      pending.reject(error);
    }
  }
}

/** Options of `broker.request()`. */
export interface RequestOptions {
  /** How long to wait for the reply, in ms. @defaultValue `30000` */
  readonly timeout?: number;
  /** Headers of the request message. */
  readonly headers?: Readonly<Record<string, string>>;
  /** @defaultValue the broker's `idGenerator()` (a UUID) */
  readonly correlationId?: string;
  /** Trim the stream when the request goes to one. */
  readonly maxlen?: number;
  /** The message key that picks the partition of a partitioned stream (see PublishOptions.key). */
  readonly key?: string | number;
}
