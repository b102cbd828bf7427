/**
 * The producer is the only code that writes messages: publishes, batches, requests, replies and
 * dead letters. Each passes through the `publishScope` middlewares in effect (the broker's for a
 * publish outside a handler, the subscriber's chain inside one), is encoded as a FastStream
 * envelope and leaves as one command (see ./commands.ts).
 */
import { encodeEnvelope } from '../../core/codec/binary.js';
import { headerPairs } from '../../core/codec/body.js';
import { encodeMessage, type OutgoingFields } from '../../core/codec/wire.js';
import { OptionError, rejectWith } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { allInert, compose, instantiate, publishScopes, runScopes, type Middleware, type MiddlewareLike, type PublishCommand } from '../../core/middleware.js';
import type { ConnectionStrategy } from '../connection/strategy.js';
import { partitionKey, partitionOf } from '../hashtag.js';
import type { RedisPipeline } from '../pipeline.js';
import type { Destination } from '../targets.js';
import { AckBatcher } from './acks.js';
import { ackCommand, publishCommand } from './commands.js';
import { deadLetterHeaders, type DeadEntry, type DeadLetterReason, type DeadLetterRoute } from './dead-letter.js';

/** Per-call publish options. */
export interface PublishOptions {
  readonly headers?: Readonly<Record<string, string>>;
  /** @defaultValue the broker's `idGenerator()` (a UUID) */
  readonly correlationId?: string;
  /** Where the consumer should send its answer (a channel). */
  readonly replyTo?: string;
  /** Trim the stream: `XADD MAXLEN ~ maxlen`. Streams only. */
  readonly maxlen?: number;
  /** Queue on this pipeline instead of sending now (see `broker.pipeline`). */
  readonly pipeline?: RedisPipeline;
  /**
   * Partitioned streams only: the message key that picks the partition (Kafka's murmur2 of it, mod
   * the partition count), so messages with one key keep their order. Without it, partitions take
   * turns.
   */
  readonly key?: string | number;
}

/** The keys of {@link PublishOptions}; any other key in a publish call's options is refused. */
export const publishKeys = ['headers', 'correlationId', 'replyTo', 'maxlen', 'pipeline', 'key'];

/** What a publish returns: receivers (channel), new length (list) or entry ID (stream). */
export type PublishResult = number | string;

/** What the producer needs from its broker. */
export interface ProducerHost {
  readonly strategy: ConnectionStrategy;
  readonly logger: Logger;
  /** The broker's own middlewares, for publishes made outside a handler. */
  readonly middlewares: readonly MiddlewareLike[];
  readonly idGenerator: () => string;
  /** Undefined when connected (the hot case); else connects lazily, or rejects when closed. */
  ready(what: string): Promise<void> | undefined;
}

/** One publish as the producer takes it. */
export interface Publish {
  readonly type: PublishCommand['type'];
  readonly destination: Destination;
  /** The body, or every body of a batch. */
  readonly body: unknown;
  readonly batch: boolean;
  readonly options: PublishOptions;
  /** The middlewares of the handler that publishes; undefined outside a handler. */
  readonly scope?: readonly Middleware[] | undefined;
}

/** The only writer of messages: publishes, batches, requests, replies and dead letters. */
export class RedisProducer {
  readonly #host: ProducerHost;
  /** Partitioned streams: the next partition of a publish without a key, by stream name. */
  readonly #turns = new Map<string, number>();
  /** The partition counts recorded in Redis (or being read), by stream name. */
  readonly #counts = new Map<string, Promise<number>>();

  constructor(host: ProducerHost) {
    this.#host = host;
  }

  /** Sends now, or queues on `options.pipeline` (then resolves to undefined at once). */
  publish(publish: Publish): Promise<PublishResult | undefined> {
    const { destination, options } = publish;
    if (options.maxlen !== undefined && destination.kind !== 'stream') {
      return Promise.reject(new OptionError('maxlen', options.maxlen, `unset when publishing to ${destination.kind} "${destination.name}" (streams only)`));
    }
    if (destination.partitions !== undefined || options.key !== undefined) return this.#partitioned(publish);
    // Already connected is the hot case: no extra await for it.
    const waiting = options.pipeline ? undefined : this.#host.ready(publish.type);
    if (waiting) return waiting.then(() => this.#publish(publish));
    try {
      return this.#publish(publish);
    } catch (error) {
      return rejectWith(error);
    }
  }

  /**
   * Checks that a partitioned stream's count matches the one recorded in Redis, recording it when
   * none is (the first publisher or subscriber of a stream sets it). Resolves at once after the first
   * success; a mismatch fails with an OptionError naming both counts.
   */
  async checkPartitions(name: string, partitions: number): Promise<void> {
    let recorded = this.#counts.get(name);
    if (!recorded) {
      const key = partitionCountKey(name);
      recorded = this.#host.strategy.commands.send('SET', key, [key, partitions, 'NX', 'GET']).then((old) => (old === null || old === undefined ? partitions : Number(old)));
      this.#counts.set(name, recorded);
      // A failed check (Redis away) is made again next time.
      recorded.catch(() => this.#counts.delete(name));
    }
    const count = await recorded;
    if (count !== partitions) {
      throw new OptionError(
        'partitions',
        partitions,
        `${count}, the count stream "${name}" was set up with (Redis key "${partitionCountKey(name)}"). Every publisher and subscriber ` +
          'of a partitioned stream must use one count; changing the count of a live stream is not supported',
      );
    }
  }

  /** A publish to a partitioned stream: the partition its key (or its turn) picks, once the count is checked. */
  async #partitioned(publish: Publish): Promise<PublishResult | undefined> {
    const { destination, options } = publish;
    const partitions = destination.partitions;
    if (partitions === undefined) {
      throw new OptionError('key', options.key, `unset when publishing to ${destination.kind} "${destination.name}" (a key picks a partition of a partitioned StreamSub)`);
    }
    if (options.key !== undefined && typeof options.key !== 'string' && typeof options.key !== 'number') {
      throw new OptionError('key', options.key, 'a string or a number');
    }
    let index: number;
    if (options.key === undefined) {
      index = this.#turns.get(destination.name) ?? 0;
      this.#turns.set(destination.name, (index + 1) % partitions);
    } else {
      index = partitionOf(String(options.key), partitions);
    }
    // A pipelined publish is queued at once: its count is checked only when a direct publish did it.
    if (!options.pipeline) {
      await this.#host.ready(publish.type);
      await this.checkPartitions(destination.name, partitions);
    }
    const { key: _key, ...rest } = options;
    const partition: Destination = { ...destination, name: partitionKey(destination.name, index), partitions: undefined };
    return this.#publish({ ...publish, destination: partition, options: rest });
  }

  /** The acknowledgement path of one stream and group (XACKs of a tick coalesced). */
  acks(stream: string, group: string): AckBatcher {
    return new AckBatcher(this.#host.strategy.commands, stream, group);
  }

  /**
   * Moves entries to the route's dead-letter stream and acknowledges them in their own; each is a
   * publish of type `dead-letter` through `scope`'s publishScopes. Without a dead-letter stream
   * they are acknowledged away after an error log.
   *
   * Atomic (MULTI/EXEC) where the strategy can run both keys in one transaction: always on a
   * single node, on a cluster when both names share a hash slot (`{orders}` and `{orders}:dlq`).
   * Otherwise at-least-once: XADD first, XACK after, so a crash in between leaves the entry
   * pending and it is dead-lettered again (a duplicate dead letter, never a loss).
   */
  async deadLetter(route: DeadLetterRoute, acks: AckBatcher, entries: readonly DeadEntry[], reason: DeadLetterReason, cause: unknown, scope: readonly Middleware[]): Promise<void> {
    if (entries.length === 0) return;
    const context = { subscriber: route.stream, ids: entries.map((e) => e.id), reason };
    const dlq = route.deadLetter;
    if (dlq === undefined) {
      this.#host.logger.error(context, `Dropping ${entries.length} entries (${reason}); set \`deadLetter\` on the StreamSub to keep them.`);
      await acks.ack(context.ids);
      return;
    }
    const scopes = publishScopes(scope);
    const atomic = this.#host.strategy.atomicAcross([dlq, route.stream]);
    await Promise.all(
      entries.map((entry) => {
        const headers = deadLetterHeaders(route, entry, reason, cause);
        const command: PublishCommand = {
          type: 'dead-letter',
          destination: dlq,
          destinationType: 'stream',
          body: entry.wire.payload,
          batch: false,
          headers,
          correlationId: headers['correlation_id'] ?? this.#host.idGenerator(),
          replyTo: headers['reply_to'] ?? '',
        };
        return compose(scopes, (cmd: PublishCommand) => this.#moveEntry(route, dlq, entry.id, cmd, atomic, acks))(command);
      }),
    );
    this.#host.logger.warn(context, `Moved ${entries.length} entries to dead-letter stream "${dlq}" (${reason}).`);
  }

  #publish(publish: Publish): Promise<PublishResult | undefined> {
    const { destination, options } = publish;
    const correlationId = options.correlationId ?? this.#host.idGenerator();
    const maxlen = options.maxlen ?? destination.maxlen;
    // Without publish scopes (or only inert ones) nothing can change the publish: encode and send, no command object.
    const middlewares = publish.scope ?? instantiate(this.#host.middlewares, undefined);
    const scopes = publishScopes(middlewares);
    if (scopes.length === 0 || allInert(middlewares)) {
      return this.#send(destination, publish.body, publish.batch, { correlationId, replyTo: options.replyTo, headers: options.headers }, maxlen, options.pipeline);
    }
    const command: PublishCommand = {
      type: publish.type,
      destination: destination.name,
      destinationType: destination.kind,
      body: publish.body,
      batch: publish.batch,
      headers: { ...options.headers },
      correlationId,
      replyTo: options.replyTo ?? '',
    };
    const send = (cmd: PublishCommand): Promise<PublishResult | undefined> =>
      this.#send(destination, cmd.body, cmd.batch, { correlationId: cmd.correlationId, replyTo: cmd.replyTo, headers: cmd.headers }, maxlen, options.pipeline);
    return runScopes(scopes, send, command) as Promise<PublishResult | undefined>;
  }

  /** Encodes the body (every item of a batch), then sends or queues the command. */
  #send(destination: Destination, body: unknown, batch: boolean, fields: OutgoingFields, maxlen: number | undefined, pipeline: RedisPipeline | undefined): Promise<PublishResult | undefined> {
    const envelopes = batch ? (body as unknown[]).map((item) => encodeMessage(item, fields)) : [encodeMessage(body, fields)];
    const command = publishCommand(destination, envelopes, maxlen);
    if (pipeline) {
      pipeline.enqueue(command, destination.kind === 'stream' ? String : Number);
      return Promise.resolve(undefined);
    }
    // Every strategy answers XADD with the ID as a string and the others with an integer.
    return this.#host.strategy.commands.send(command.name, command.key, command.args) as Promise<PublishResult>;
  }

  async #moveEntry(route: DeadLetterRoute, dlq: string, id: string, cmd: PublishCommand, atomic: boolean, acks: AckBatcher): Promise<string> {
    const add = publishCommand({ kind: 'stream', name: dlq, sharded: false, maxlen: undefined }, [deadLetterEnvelope(cmd)], undefined);
    if (atomic) {
      const [added, acked] = await this.#host.strategy.exec([add, ackCommand(route.stream, route.group, [id])], true);
      if (added instanceof Error) throw added;
      if (acked instanceof Error) throw acked;
      return String(added);
    }
    const added = await this.#host.strategy.commands.send(add.name, add.key, add.args);
    await acks.ack([id]);
    return String(added);
  }
}

/** The key that records a partitioned stream's partition count: `redstream:partitions:{orders}`. */
export function partitionCountKey(name: string): string {
  return `redstream:partitions:{${name}}`;
}

/**
 * The dead letter keeps the original payload bytes and content-type; a middleware that replaced
 * the body with something else gets it encoded like any publish.
 */
function deadLetterEnvelope(cmd: PublishCommand): Buffer {
  const { correlation_id: _id, reply_to: _reply, ...headers } = cmd.headers;
  if (cmd.body instanceof Uint8Array) {
    return encodeEnvelope(headerPairs(cmd.correlationId, undefined, cmd.replyTo, headers), cmd.body);
  }
  const { 'content-type': _type, ...rest } = headers;
  return encodeMessage(cmd.body, { correlationId: cmd.correlationId, replyTo: cmd.replyTo, headers: rest });
}
