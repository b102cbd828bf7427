/** Where messages live: `PubSub`, `ListSub` and `StreamSub`, each checking every option in its constructor. */
import { OptionError, SetupError } from '../core/errors.js';
import { partitionKey, withHashTag } from './hashtag.js';

/** Options of a Pub/Sub channel. */
export interface PubSubOptions {
  /**
   * Subscribe with PSUBSCRIBE. Switched on automatically when the name has `*` or a `{param}`
   * (an identifier in braces; other braces, like the hash tag of `{user:42}.events`, are literal).
   * @defaultValue `false`
   * @see https://redis.io/docs/latest/commands/psubscribe/
   */
  readonly pattern?: boolean;
  /**
   * Messages that may wait for a free worker. Pub/Sub has no back-pressure (and is at-most-once),
   * so beyond this the newest messages are dropped, with a warning that counts them, instead of
   * memory growing without limit under a slow handler.
   * @defaultValue `10000`
   */
  readonly maxQueued?: number;
  /**
   * Use sharded Pub/Sub (SSUBSCRIBE / SPUBLISH): on a cluster, messages go only to the shard
   * that owns the channel's slot. Cannot be combined with patterns; braces in a sharded channel
   * are always a hash tag (`{orders}.created` and `{orders}.paid` share a shard).
   * @defaultValue `false`
   * @see https://redis.io/docs/latest/commands/ssubscribe/
   */
  readonly sharded?: boolean;
}

/** `{name}` in a channel template: an identifier in braces. */
const PATH_PARAM = /\{[A-Za-z_][A-Za-z0-9_]*\}/;

/** A Pub/Sub channel: at-most-once, subscribers that are offline miss messages. */
export class PubSub {
  readonly kind = 'channel' as const;
  readonly name: string;
  readonly pattern: boolean;
  readonly sharded: boolean;
  /** Messages that may wait for a worker before the newest are dropped. */
  readonly maxQueued: number;

  /** @example new PubSub('logs.{level}') // PSUBSCRIBE logs.*, msg.path.level */
  constructor(name: string, options: PubSubOptions = {}) {
    checkName('channel', name);
    checkKeys('PubSub', options, ['pattern', 'sharded', 'maxQueued']);
    checkBoolean('pattern', options.pattern);
    checkBoolean('sharded', options.sharded);
    this.name = name;
    this.maxQueued = checkInt('maxQueued', options.maxQueued ?? 10_000, 1);
    this.sharded = options.sharded ?? false;
    this.pattern = options.pattern === true || name.includes('*') || (!this.sharded && PATH_PARAM.test(name));
    if (this.sharded && this.pattern) {
      throw new OptionError('sharded', true, `false for the pattern channel "${name}" (sharded Pub/Sub has no patterns)`);
    }
  }

  withPrefix(prefix: string): PubSub {
    return prefix ? new PubSub(prefix + this.name, { pattern: this.pattern, sharded: this.sharded, maxQueued: this.maxQueued }) : this;
  }
}

/** Options of a list consumer. */
export interface ListSubOptions<Batch extends boolean = boolean> {
  /** Deliver up to `maxRecords` elements at once as an array. @defaultValue `false` */
  readonly batch?: Batch;
  /** Most elements in one batch. @defaultValue `10` */
  readonly maxRecords?: number;
  /** How long one blocking pop waits, in ms, before checking for stop. @defaultValue `100` */
  readonly pollingInterval?: number;
  /**
   * Give this reader a blocking connection of its own instead of sharing the broker's (see
   * "Connections" in the README): one more connection, and on a cluster no doorbell or poll
   * between a foreign write and its read. @defaultValue `false`
   */
  readonly dedicatedConnection?: boolean;
}

/** A list used as a FIFO queue: RPUSH to publish, BLPOP (LPOP COUNT for batches) to consume. */
class ListSubImpl<Batch extends boolean = false> {
  readonly kind = 'list' as const;
  readonly name: string;
  readonly batch: Batch;
  readonly maxRecords: number;
  readonly pollingInterval: number;
  readonly dedicatedConnection: boolean;

  /** @example new ListSub('jobs', { batch: true, maxRecords: 100 }) */
  constructor(name: string, options: ListSubOptions<Batch> = {}) {
    checkName('list', name);
    checkKeys('ListSub', options, ['batch', 'maxRecords', 'pollingInterval', 'dedicatedConnection']);
    checkBoolean('batch', options.batch);
    checkBoolean('dedicatedConnection', options.dedicatedConnection);
    this.name = name;
    this.batch = (options.batch ?? false) as Batch;
    this.maxRecords = checkInt('maxRecords', options.maxRecords ?? 10, 1);
    this.pollingInterval = checkInt('pollingInterval', options.pollingInterval ?? 100, 1);
    this.dedicatedConnection = options.dedicatedConnection ?? false;
  }

  withPrefix(prefix: string): ListSub<Batch> {
    if (!prefix) return this;
    const { batch, maxRecords, pollingInterval, dedicatedConnection } = this;
    return new ListSubImpl(prefix + this.name, { batch, maxRecords, pollingInterval, dedicatedConnection });
  }
}

/*
 * Constructor overloads pick `Batch` from the arguments alone. A generic class constructor would
 * also infer it from the contextual type (e.g. `ListSub<boolean>` in a parameter's constraint),
 * which widens `batch: true` to `boolean` and loses the handler's array body type.
 */
/** The constructor signatures of {@link ListSub}: `batch: true` makes a `ListSub<true>`. */
export interface ListSubConstructor {
  new (name: string, options: ListSubOptions<true> & { readonly batch: true }): ListSub<true>;
  new (name: string, options?: ListSubOptions<false>): ListSub<false>;
  new <Batch extends boolean>(name: string, options?: ListSubOptions<Batch>): ListSub<Batch>;
  readonly prototype: ListSub<boolean>;
}
/** A list used as a FIFO queue: RPUSH to publish, BLPOP (LPOP COUNT for batches) to consume. */
export type ListSub<Batch extends boolean = false> = ListSubImpl<Batch>;
/**
 * A list used as a FIFO queue: RPUSH to publish, BLPOP (LPOP COUNT for batches) to consume.
 * @example new ListSub('jobs', { batch: true, maxRecords: 100 })
 */
export const ListSub = ListSubImpl as ListSubConstructor;

/** Options of a stream consumer (and of publishers to it: `maxlen`). */
export interface StreamSubOptions<Batch extends boolean = boolean> {
  /**
   * Consumer group; requires `consumer`. Without a group every subscriber reads every entry (XREAD).
   * @see https://redis.io/docs/latest/commands/xreadgroup/
   */
  readonly group?: string;
  /** This consumer's name within the group; keep it stable across restarts so its pending entries are drained. */
  readonly consumer?: string;
  /** Deliver the entries of one read as an array. @defaultValue `false` */
  readonly batch?: Batch;
  /**
   * COUNT of one read: the most entries read ahead of the handler (and the largest batch).
   * @defaultValue `10`, or `100` for batches
   */
  readonly maxRecords?: number;
  /** BLOCK of one read, in ms. @defaultValue `100` */
  readonly pollingInterval?: number;
  /**
   * Where reading starts: for a new group, the ID it is created at (`$` = only new entries,
   * `0` = the whole stream); without a group, the ID to read after.
   * @defaultValue `'$'`
   */
  readonly lastId?: string;
  /** XREADGROUP NOACK: entries are never pending (at-most-once). @defaultValue `false` */
  readonly noAck?: boolean;
  /** Publishers to this stream trim it with `XADD MAXLEN ~ maxlen`. */
  readonly maxlen?: number;
  /** Claim entries idle this long (ms) from other consumers of the group (XAUTOCLAIM). */
  readonly minIdleTime?: number;
  /** Create the group (and the stream) if missing: XGROUP CREATE … MKSTREAM. @defaultValue `true` */
  readonly declare?: boolean;
  /**
   * Most times an entry is handed to the handler. A failure on the last allowed delivery, or an
   * entry found delivered more often (its consumer crashed), goes to `deadLetter` (or is dropped
   * with an error log without one) and is acknowledged. Redeliveries come from claiming
   * (`minIdleTime`) and from restarts. Needs a group.
   */
  readonly maxDeliveries?: number;
  /**
   * Stream that receives rejected entries and those past `maxDeliveries`, as normal entries with
   * the original payload and headers plus `x-dead-letter-*` headers. Atomic with the XACK when
   * both streams are on one node (always on a single node; on a cluster, hash-tag both names,
   * e.g. `{orders}` and `{orders}:dlq`), else at-least-once. Needs a group. With `partitions`,
   * each partition's dead letters go to a stream in its own slot: `{orders:3}:<deadLetter>`.
   */
  readonly deadLetter?: string;
  /**
   * Give this reader a blocking connection of its own instead of sharing the broker's (see
   * "Connections" in the README): one more connection, and on a cluster no doorbell or poll
   * between a foreign write and its read. @defaultValue `false`
   */
  readonly dedicatedConnection?: boolean;
  /**
   * Spread the stream over this many keys, `{name:0}` … `{name:N-1}`, each in a hash slot of its own
   * (see "Partitioned streams" in the README). A publish with `key` goes to the key's partition
   * (Kafka's murmur2 of the key, mod N); without one, to the next partition in turn. A group's
   * instances share the partitions through leases kept in Redis; without a group, a subscriber
   * reads them all. Publishers and subscribers of one stream must agree on N (checked in Redis).
   */
  readonly partitions?: number;
  /**
   * How long, in ms, an instance's lease on its partitions lasts without renewal (renewed every
   * quarter of it). An instance that dies loses its partitions to the others within about this
   * long; joins, stops and deaths rebalance within twice this. Needs `partitions` and a group.
   * @defaultValue `10000`
   */
  readonly leaseTime?: number;
}

/** The most partitions a stream may have. */
export const MAX_PARTITIONS = 1024;

/** A Redis stream, read with XREAD or, with a group, XREADGROUP. */
class StreamSubImpl<Batch extends boolean = false> {
  readonly kind = 'stream' as const;
  readonly name: string;
  readonly group: string | undefined;
  readonly consumer: string | undefined;
  readonly batch: Batch;
  readonly maxRecords: number;
  readonly pollingInterval: number;
  readonly lastId: string;
  readonly noAck: boolean;
  readonly maxlen: number | undefined;
  readonly minIdleTime: number | undefined;
  readonly declare: boolean;
  readonly maxDeliveries: number | undefined;
  readonly deadLetter: string | undefined;
  readonly dedicatedConnection: boolean;
  /** How many partitions the stream is spread over; undefined for a plain stream. */
  readonly partitions: number | undefined;
  /** Lease time of a partitioned group's instances, in ms. */
  readonly leaseTime: number;
  readonly #options: StreamSubOptions<Batch>;

  /** @example new StreamSub('orders', { group: 'billing', consumer: 'c1', minIdleTime: 30_000 }) */
  constructor(name: string, options: StreamSubOptions<Batch> = {}) {
    checkName('stream', name);
    checkKeys('StreamSub', options, [
      'group', 'consumer', 'batch', 'maxRecords', 'pollingInterval', 'lastId', 'noAck', 'maxlen', 'minIdleTime', 'declare',
      'maxDeliveries', 'deadLetter', 'dedicatedConnection', 'partitions', 'leaseTime',
    ]);
    if ((options.group === undefined) !== (options.consumer === undefined)) {
      const missing = options.group === undefined ? 'group' : 'consumer';
      throw new OptionError(missing, undefined, `set together with \`${missing === 'group' ? 'consumer' : 'group'}\` on StreamSub "${name}"`);
    }
    if (options.group !== undefined) checkName('group', options.group);
    if (options.consumer !== undefined) checkName('consumer', options.consumer);
    for (const key of ['batch', 'noAck', 'declare', 'dedicatedConnection'] as const) checkBoolean(key, options[key]);
    if (options.lastId !== undefined && !/^(\$|>|0|\d+(-\d+)?)$/.test(String(options.lastId))) {
      throw new OptionError('lastId', options.lastId, 'a stream ID such as "$", "0" or "1700000000000-0"');
    }
    this.#options = options;
    this.name = name;
    this.group = options.group;
    this.consumer = options.consumer;
    this.batch = (options.batch ?? false) as Batch;
    this.maxRecords = checkInt('maxRecords', options.maxRecords ?? (this.batch ? 100 : 10), 1);
    this.pollingInterval = checkInt('pollingInterval', options.pollingInterval ?? 100, 1);
    this.lastId = options.lastId === undefined || options.lastId === '>' ? '$' : options.lastId;
    this.noAck = options.noAck ?? false;
    this.maxlen = options.maxlen === undefined ? undefined : checkInt('maxlen', options.maxlen, 1);
    this.minIdleTime = options.minIdleTime === undefined ? undefined : checkInt('minIdleTime', options.minIdleTime, 1);
    this.declare = options.declare ?? true;
    this.maxDeliveries = options.maxDeliveries === undefined ? undefined : checkInt('maxDeliveries', options.maxDeliveries, 1);
    if (options.deadLetter !== undefined) checkName('deadLetter', options.deadLetter);
    this.deadLetter = options.deadLetter;
    this.dedicatedConnection = options.dedicatedConnection ?? false;
    for (const [option, value] of [['minIdleTime', this.minIdleTime], ['maxDeliveries', this.maxDeliveries], ['deadLetter', this.deadLetter]] as const) {
      if (value !== undefined && this.group === undefined) {
        throw new OptionError(option, value, 'used with a consumer `group` (only groups track deliveries)');
      }
    }
    if (this.deadLetter === name) throw new OptionError('deadLetter', this.deadLetter, `a stream other than "${name}" itself`);
    this.partitions = options.partitions === undefined ? undefined : checkInt('partitions', options.partitions, 1);
    if (this.partitions !== undefined && this.partitions > MAX_PARTITIONS) {
      throw new OptionError('partitions', this.partitions, `at most ${MAX_PARTITIONS}`);
    }
    if (this.partitions !== undefined && /[{}]/.test(name)) {
      throw new OptionError('partitions', this.partitions, `unset on "${name}": a partitioned stream's name has no braces (each partition gets a hash tag of its own)`);
    }
    this.leaseTime = checkInt('leaseTime', options.leaseTime ?? 10_000, 100);
    if (options.leaseTime !== undefined && (this.partitions === undefined || this.group === undefined)) {
      throw new OptionError('leaseTime', options.leaseTime, 'used with `partitions` and a consumer `group` (leases share partitions among a group)');
    }
    if (this.noAck && (this.maxDeliveries !== undefined || this.deadLetter !== undefined || this.minIdleTime !== undefined)) {
      throw new OptionError('noAck', true, 'false with minIdleTime, maxDeliveries or deadLetter (NOACK entries are never pending)');
    }
  }

  /**
   * The key of partition `index` (`{orders:3}`), or the stream's own name when it has no partitions.
   * @example new StreamSub('orders', { partitions: 16 }).partition(3) // '{orders:3}'
   */
  partition(index: number): string {
    if (this.partitions === undefined) return this.name;
    if (!Number.isInteger(index) || index < 0 || index >= this.partitions) {
      throw new OptionError('index', index, `a partition number from 0 to ${this.partitions - 1}`);
    }
    return partitionKey(this.name, index);
  }

  /**
   * Partition `index` as a plain stream of its own, read by one instance: the same options, and
   * dead letters going to `{orders:3}:<deadLetter>`, in the partition's slot.
   * @internal
   */
  partitionSource(index: number): StreamSub<Batch> {
    const { partitions: _p, leaseTime: _l, deadLetter, ...options } = this.#options;
    const key = this.partition(index);
    return new StreamSubImpl(key, deadLetter === undefined ? options : { ...options, deadLetter: withHashTag(key, deadLetter) });
  }

  /** The same stream under a router's prefix; its dead-letter stream takes the prefix too. */
  withPrefix(prefix: string): StreamSub<Batch> {
    if (!prefix) return this;
    const options = this.#options.deadLetter === undefined ? this.#options : { ...this.#options, deadLetter: prefix + this.#options.deadLetter };
    return new StreamSubImpl(prefix + this.name, options);
  }
}

/** Constructor overloads, for the same reason as {@link ListSubConstructor}. */
export interface StreamSubConstructor {
  new (name: string, options: StreamSubOptions<true> & { readonly batch: true }): StreamSub<true>;
  new (name: string, options?: StreamSubOptions<false>): StreamSub<false>;
  new <Batch extends boolean>(name: string, options?: StreamSubOptions<Batch>): StreamSub<Batch>;
  readonly prototype: StreamSub<boolean>;
}
/** A Redis stream, read with XREAD or, with a group, XREADGROUP. */
export type StreamSub<Batch extends boolean = false> = StreamSubImpl<Batch>;
/**
 * A Redis stream, read with XREAD or, with a group, XREADGROUP.
 * @example new StreamSub('orders', { group: 'billing', consumer: 'c1', minIdleTime: 30_000 })
 */
export const StreamSub = StreamSubImpl as StreamSubConstructor;

/** Any source a subscriber reads from. */
export type Source = PubSub | ListSub<boolean> | StreamSub<boolean>;

function checkName(option: string, value: unknown): void {
  if (typeof value !== 'string' || value.length === 0) throw new OptionError(option, value, 'a non-empty string');
}

function checkBoolean(option: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'boolean') throw new OptionError(option, value, 'true or false');
}

/** Returns `value` if it is an integer of at least `min`, else throws an error naming `option`. */
export function checkInt(option: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new OptionError(option, value, `an integer from ${min} and up`);
  }
  return value;
}

/** Refuses option names that do not exist, so a typo never silently does nothing. */
export function checkKeys(where: string, options: object, known: readonly string[]): void {
  if (typeof options !== 'object' || options === null) throw new SetupError(`${where} options must be an object.`);
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new SetupError(`Unknown option \`${key}\` for ${where}. Known options: ${known.join(', ')}.`);
    }
  }
}
