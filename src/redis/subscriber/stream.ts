import { DecodeError, GroupNotFoundError, SetupError, ValidationError } from '../../core/errors.js';
import { Message, type MessageSource, type Settler } from '../../core/message.js';
import { instantiate, middlewaresOf, type Middleware, type MiddlewareLike } from '../../core/middleware.js';
import type { BlockingConnection, CommandClient } from '../connection/strategy.js';
import { withHashTag } from '../hashtag.js';
import type { AckBatcher } from '../producer/acks.js';
import type { DeadEntry, DeadLetterReason, DeadLetterRoute } from '../producer/dead-letter.js';
import type { RedisProducer } from '../producer/producer.js';
import type { StreamSub } from '../sources.js';
import { Claimer } from './claim.js';
import { ReadLoop, type LoopDeps, type ReadFailure } from './runtime.js';
import type { WaitSpec } from './shared.js';
import { compareIds, deletedIds, entriesOf, loadDeliveryCounts, toEntries, type Entry, type RawEntry, type ReadReply } from './stream-entries.js';

interface Group {
  readonly name: string;
  readonly consumer: string;
}

/**
 * Stream consumer. Without a group: XREAD from the last entry that existed at start (so nothing
 * published between polls is missed). With a group, each read is one of:
 *   - drain: this consumer's own pending entries (`0`, then after the last ID read) until none are
 *     left, so a restart never strands unacknowledged entries;
 *   - claim (with `minIdleTime`): XAUTOCLAIM entries idle that long, alternating with new reads;
 *   - new: XREADGROUP `>` with BLOCK.
 * A read takes no more entries than there are workers for them (see ReadLoop). Entries past
 * `maxDeliveries` go to the dead-letter stream instead of the handler. XACK happens only as the
 * ack policy says.
 */
export class StreamSubscriber extends ReadLoop {
  readonly name: string;
  readonly #source: StreamSub<boolean>;
  readonly #group: Group | undefined;
  readonly #claimer: Claimer | undefined;
  readonly #deadLetter: DeadLetters | undefined;
  /** Group: the drain cursor (`0`, then the last pending ID read), `>` once drained. No group: last ID read. */
  #cursor = '>';
  #claimedLast = false;
  /** Whether the last read was for new entries and found none. */
  #idle = false;
  /** Whether the last read was for new entries and found fewer than it asked for. */
  #drained = false;
  /** Entry IDs our workers hold right now; a re-drain must not hand them out twice. */
  readonly #inFlight = new Set<string>();
  protected readonly readTimeout: number;
  protected readonly dedicated: boolean;
  readonly #messageSource: MessageSource;
  /** The only reader of its stream in its group (a partition it holds the lease of). */
  readonly #exclusive: boolean;

  constructor(source: StreamSub<boolean>, deps: LoopDeps, exclusive = false) {
    super(deps);
    this.#source = source;
    // Not with maxDeliveries: an entry read ahead and left unstarted (the partition handed over)
    // would count a delivery no handler saw, and run out its limit.
    this.#exclusive = exclusive && source.group !== undefined && !source.noAck && source.maxDeliveries === undefined;
    this.name = source.name;
    this.dedicated = source.dedicatedConnection;
    this.#messageSource = { kind: 'stream', name: source.name };
    this.readTimeout = source.pollingInterval;
    if (source.group !== undefined && source.consumer !== undefined) {
      this.#group = { name: source.group, consumer: source.consumer };
      const route: DeadLetterRoute = { stream: source.name, group: source.group, deadLetter: source.deadLetter };
      this.#deadLetter = new DeadLetters(deps.producer, route, deps.producer.acks(source.name, source.group), deps.config.middlewares);
    }
    if (source.minIdleTime !== undefined) {
      const interval = Math.min(Math.max(Math.floor(source.minIdleTime / 2), source.pollingInterval), 30_000);
      this.#claimer = new Claimer(source.minIdleTime, interval);
    }
  }

  protected async prepare(): Promise<void> {
    const dlq = this.#source.deadLetter;
    if (dlq !== undefined && !this.deps.strategy.atomicAcross([this.name, dlq])) {
      this.deps.logger.warn(
        { subscriber: this.name },
        `Dead letters of "${this.name}" go to "${dlq}" in another hash slot, so each move is XADD then XACK ` +
          `(at-least-once: a crash in between duplicates the dead letter). For one atomic MULTI, give both a hash tag, ` +
          `e.g. "${withHashTag(this.name)}" and "${withHashTag(this.name, 'dlq')}".`,
      );
    }
    if (this.#group) {
      await this.#createGroup();
      this.#cursor = '0';
    } else {
      this.#cursor = this.#source.lastId === '$' ? await this.#lastEntryId() : this.#source.lastId;
    }
  }

  protected async read(connection: BlockingConnection, capacity: number): Promise<Message[]> {
    const count = this.readCount(capacity);
    this.#idle = false;
    this.#drained = false;
    if (!this.#group) return this.#messages(await this.#readNoGroup(connection, count));
    if (this.#cursor !== '>') return this.#messages(await this.#drain(connection, this.#group, count));
    if (this.#claimer?.due && !this.#claimedLast) {
      this.#claimedLast = true;
      const raw = await this.#claimer.claim(connection, this.name, this.#group.name, this.#group.consumer, count, this.deps.logger);
      // A slow handler's own entry can be idle long enough to be claimed: never run it twice at once.
      const claimed = raw.filter(([id]) => !this.#inFlight.has(String(id)));
      return this.#messages(await this.#redelivered(connection, this.#group, claimed));
    }
    this.#claimedLast = false;
    const args: Array<string | number> = ['GROUP', this.#group.name, this.#group.consumer, 'COUNT', count];
    // Mid-way through a claim scan, new entries are read without waiting, so claiming goes on at once.
    if (this.blocks && !this.#claimer?.due) args.push('BLOCK', this.#source.pollingInterval);
    if (this.#source.noAck) args.push('NOACK');
    const reconnects = connection.reconnects;
    const reply = (await connection.send('XREADGROUP', [...args, 'STREAMS', this.name, '>'])) as ReadReply;
    // The read was sent again on a new connection: the first may have been answered into the void,
    // leaving entries pending for us that nobody will hand us. Read our PEL again.
    if (connection.reconnects !== reconnects) this.#cursor = '0';
    const raw = entriesOf(reply);
    const entries = toEntries(raw, 1);
    this.#idle = entries.length === 0 && this.#cursor === '>';
    this.#drained = raw.length < count && this.#cursor === '>';
    return this.#messages(entries);
  }

  protected waitSpec(): Omit<WaitSpec, 'lost'> {
    const group = this.#group;
    const lane = group ? { kind: 'group' as const, group: group.name, consumer: group.consumer, noAck: this.#source.noAck } : { kind: 'read' as const };
    return { key: this.name, lane, block: this.#source.pollingInterval };
  }

  /** Entries a shared group read took for us (a read without a group takes none). */
  protected async delivered(items: unknown[], connection: BlockingConnection | undefined): Promise<Message[]> {
    const group = this.#group;
    if (!group) {
      // Read without a group: entries after our cursor (a lane may have read from an older one).
      const raw = (items as RawEntry[]).filter(([id]) => compareIds(String(id), this.#cursor) > 0);
      if (raw.length > 0) this.#cursor = String(raw[raw.length - 1]![0]);
      return this.#messages(toEntries(raw, undefined));
    }
    const entries = toEntries(items as RawEntry[], 1);
    const room = this.#source.maxRecords - entries.length;
    if (connection && this.#source.batch && room > 0 && this.#cursor === '>') {
      const args = ['GROUP', group.name, group.consumer, 'COUNT', room, ...(this.#source.noAck ? ['NOACK'] : []), 'STREAMS', this.name, '>'];
      // A failed top-up leaves the batch as the lane brought it (what it may have read stays pending).
      const more = (await connection.send('XREADGROUP', args).catch(() => {
        this.#cursor = '0';
        return null;
      })) as ReadReply;
      entries.push(...toEntries(entriesOf(more), 1));
    }
    return this.#messages(entries);
  }

  protected readCount(capacity: number): number {
    return this.#source.batch || this.#exclusive ? this.#source.maxRecords : Math.min(this.#source.maxRecords, capacity);
  }

  protected override get readsAhead(): boolean {
    return this.#exclusive;
  }

  protected override get drained(): boolean {
    return this.#drained;
  }

  protected override get idle(): boolean {
    // A group reader told to re-read its pending entries (lost()) must read, not wait.
    return (this.#idle || this.#drained) && (this.#group === undefined || this.#cursor === '>');
  }

  protected override waitLimit(): number {
    return this.#claimer ? this.#claimer.dueIn : Number.POSITIVE_INFINITY;
  }

  protected override waitCursor(): string | undefined {
    return this.#group ? undefined : this.#cursor;
  }

  protected override lost(): void {
    if (this.#group) this.#cursor = '0';
  }

  protected override get readsAgain(): boolean {
    return this.#group !== undefined && !this.#source.noAck;
  }

  protected override get readsTakeNothing(): boolean {
    return this.#group === undefined;
  }

  protected override processed(message: Message): void {
    for (const id of message.messageIds) this.#inFlight.delete(id);
  }

  protected override async onReadError(error: unknown): Promise<ReadFailure> {
    // A reply lost with its connection may have delivered entries to us: read our PEL again.
    if (this.#group) this.#cursor = '0';
    if (!this.#group || !(error instanceof Error) || !error.message.startsWith('NOGROUP')) return super.onReadError(error);
    if (!this.#source.declare) {
      const fatal = new GroupNotFoundError(this.name, this.#group.name, { cause: error });
      this.deps.logger.error({ subscriber: this.name, err: fatal }, fatal.message);
      return 'stop';
    }
    this.deps.logger.warn({ subscriber: this.name }, `Consumer group "${this.#group.name}" disappeared; recreating it.`);
    await this.#createGroup();
    this.#cursor = '0';
    return 'retry';
  }

  async #readNoGroup(connection: BlockingConnection, count: number): Promise<Entry[]> {
    const block = this.blocks ? ['BLOCK', this.#source.pollingInterval] : [];
    // Reading takes nothing here: a shared reader asks for one more, to learn whether it drained
    // the stream (the extra entry is read again next time).
    const asked = this.blocks ? count : count + 1;
    const args = ['COUNT', asked, ...block, 'STREAMS', this.name, this.#cursor];
    const all = entriesOf((await connection.send('XREAD', args)) as ReadReply);
    const raw = all.length > count ? all.slice(0, count) : all;
    if (raw.length > 0) this.#cursor = String(raw[raw.length - 1]![0]);
    this.#idle = raw.length === 0;
    this.#drained = all.length <= count && raw.length < asked;
    return toEntries(raw, undefined);
  }

  /** Our own pending entries, oldest first; an empty answer ends the drain. */
  async #drain(connection: BlockingConnection, group: Group, count: number): Promise<Entry[]> {
    const args = ['GROUP', group.name, group.consumer, 'COUNT', count, 'STREAMS', this.name, this.#cursor];
    const raw = entriesOf((await connection.send('XREADGROUP', args)) as ReadReply);
    if (raw.length === 0) {
      this.#cursor = '>';
      return [];
    }
    this.#cursor = String(raw[raw.length - 1]![0]);
    return this.#redelivered(connection, group, raw.filter(([id]) => !this.#inFlight.has(String(id))));
  }

  /**
   * Entries delivered again (drained or claimed): their counts come from the PEL, those past the
   * limit are dead-lettered, and pending entries whose data was deleted are acknowledged away.
   */
  async #redelivered(connection: BlockingConnection, group: Group, raw: readonly RawEntry[]): Promise<Entry[]> {
    const gone = deletedIds(raw);
    if (gone.length > 0) {
      this.deps.logger.warn({ subscriber: this.name }, `${gone.length} pending entries were deleted from the stream; acknowledging them.`);
      await this.#deadLetter!.acks.ack(gone);
    }
    const entries = toEntries(raw, undefined);
    await loadDeliveryCounts(connection, this.name, group.name, group.consumer, entries, this.deps.maxWorkers);
    const limit = this.#source.maxDeliveries;
    if (limit === undefined) return entries;
    const over = entries.filter((entry) => entry.deliveryCount !== undefined && entry.deliveryCount > limit);
    // No handler saw these: their dead letters go through a fresh instance of the subscriber's middlewares.
    if (over.length > 0) {
      const { config } = this.deps;
      await this.#deadLetter!.move(over, 'max-deliveries', undefined, instantiate(config.middlewares, undefined, config.subscriber));
    }
    return entries.filter((entry) => !over.includes(entry));
  }

  #messages(entries: Entry[]): Message[] {
    if (entries.length === 0) return [];
    if (this.#group) for (const entry of entries) this.#inFlight.add(entry.id);
    if (this.#source.batch) return [this.#message(entries)];
    return entries.map((entry) => this.#message([entry]));
  }

  #message(entries: Entry[]): Message {
    const single = entries.length === 1 && !this.#source.batch;
    const ids = single ? [entries[0]!.id] : entries.map((entry) => entry.id);
    const group = this.#group && !this.#source.noAck ? this.#group : undefined;
    return new Message({
      subscriber: this.deps.config.subscriber,
      context: this.deps.config.context,
      source: this.#messageSource,
      items: single ? [entries[0]!.wire] : entries.map((entry) => entry.wire),
      batch: this.#source.batch,
      ids,
      deliveryCount: entries[0]?.deliveryCount,
      settler: group ? new EntrySettler(this.#deadLetter!, this.#source.maxDeliveries, entries, ids) : undefined,
      raw: entries,
    });
  }

  #createGroup(): Promise<void> {
    return createGroup(this.deps.strategy.commands, this.#source);
  }

  async #lastEntryId(): Promise<string> {
    const last = (await this.deps.strategy.commands.send('XREVRANGE', this.name, [this.name, '+', '-', 'COUNT', 1])) as Array<[string]>;
    return last[0] ? String(last[0][0]) : '0-0';
  }
}

/**
 * XGROUP CREATE for a StreamSub's group at its `lastId` (with MKSTREAM when it declares); a group
 * that exists already is fine.
 */
export async function createGroup(commands: CommandClient, source: StreamSub<boolean>): Promise<void> {
  const { name, group, lastId, declare } = source;
  const args = ['CREATE', name, group!, lastId, ...(declare ? ['MKSTREAM'] : [])];
  try {
    await commands.send('XGROUP', name, args);
  } catch (error) {
    const message = (error as Error).message;
    if (message.startsWith('BUSYGROUP')) return;
    if (!declare && message.includes('requires the key to exist')) {
      throw new SetupError(
        `Stream "${name}" does not exist and \`declare\` is false on its StreamSub, so group "${group!}" cannot be created. ` +
          'Create the stream first or set `declare: true`.',
        { cause: error },
      );
    }
    throw error;
  }
}

/** A group's acknowledgement path and where its dead letters go, through the producer. */
class DeadLetters {
  readonly acks: AckBatcher;
  /** The subscriber's middlewares: its dead letters pass through their publishScopes. */
  readonly chain: readonly MiddlewareLike[];
  readonly #producer: RedisProducer;
  readonly #route: DeadLetterRoute;

  constructor(producer: RedisProducer, route: DeadLetterRoute, acks: AckBatcher, chain: readonly MiddlewareLike[]) {
    this.#producer = producer;
    this.#route = route;
    this.acks = acks;
    this.chain = chain;
  }

  /** Whether dead letters go to a stream (else they are dropped after an error log). */
  get routed(): boolean {
    return this.#route.deadLetter !== undefined;
  }

  move(entries: readonly DeadEntry[], reason: DeadLetterReason, cause: unknown, scope: readonly Middleware[]): Promise<void> {
    return this.#producer.deadLetter(this.#route, this.acks, entries, reason, cause, scope);
  }
}

/** How a group's entries are settled: XACK (batched per tick), or dead-lettered past the limit. */
class EntrySettler implements Settler {
  readonly #deadLetter: DeadLetters;
  readonly #limit: number | undefined;
  readonly #entries: Entry[];
  readonly #ids: readonly string[];

  constructor(deadLetter: DeadLetters, limit: number | undefined, entries: Entry[], ids: readonly string[]) {
    this.#deadLetter = deadLetter;
    this.#limit = limit;
    this.#entries = entries;
    this.#ids = ids;
  }

  ack(): Promise<void> {
    return this.#deadLetter.acks.ack(this.#ids);
  }

  /** Leaves the entries pending, except those on their last allowed delivery. */
  async nack(reason: unknown, message: Message): Promise<void | 'dead-lettered'> {
    const limit = this.#limit;
    const spent = limit === undefined ? [] : this.#entries.filter((e) => (e.deliveryCount ?? 0) >= limit);
    if (spent.length === 0) return undefined;
    await this.#deadLetter.move(spent, 'max-deliveries', reason, middlewaresOf(message, this.#deadLetter.chain));
    return 'dead-lettered';
  }

  async reject(reason: unknown, message: Message): Promise<void | 'dead-lettered'> {
    const why = reason instanceof DecodeError ? 'decode' : reason instanceof ValidationError ? 'validation' : 'rejected';
    await this.#deadLetter.move(this.#entries, why, reason, middlewaresOf(message, this.#deadLetter.chain));
    return this.#deadLetter.routed ? 'dead-lettered' : undefined;
  }
}
