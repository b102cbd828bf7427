/**
 * Reading without a connection per reader. List and stream readers send their reads, without
 * BLOCK, on one connection they share (SharedReading, apart from the command connection); a
 * reader whose last read came back empty waits to be woken. What wakes it is the topology's (see SharedReading):
 *
 * - lanes (one server): idle readers that would send the same blocking command to different keys
 *   share one: XREADGROUP … BLOCK over every idle stream of one group and consumer, XREAD
 *   over every idle stream read without a group, BLMPOP over every idle list (its key order
 *   rotated, so no list starves). What a lane reads (an entry, an element) is handed to the
 *   reader of its key. One connection per lane, so per distinct group and consumer, not per reader.
 * - doorbells (cluster): redstream's writers ring a sharded Pub/Sub channel in the key's slot after
 *   each write (ClusterStrategy); idle readers also read every `foreignPollInterval` for writers
 *   that ring none (FastStream, redis-cli). No connection beyond the broker's Pub/Sub one. A busy
 *   reader lets its doorbell go until its reads come back empty (DoorbellTicket); a writer whose
 *   ring reached nobody skips that key's rings for a moment, so a reader that has just subscribed
 *   reads again soon by itself (doorbellTiming).
 *
 * A reader with `dedicatedConnection` keeps a blocking connection of its own instead.
 */
import type { Logger } from '../../core/logger.js';
import { settlesWithin } from '../../core/time.js';
import type { BlockingConnection, ConnectionStrategy, SharedReading } from '../connection/strategy.js';
import { doorbellOf, doorbellTiming } from '../hashtag.js';
import type { PubSubHub } from './hub.js';
import type { ReadReply } from './stream-entries.js';
import { compareIds } from './stream-entries.js';

/** Which blocking command a reader's wait joins. */
export type LaneKind =
  | { readonly kind: 'group'; readonly group: string; readonly consumer: string; readonly noAck: boolean }
  | { readonly kind: 'read' }
  | { readonly kind: 'list' };

/** How a reader joins shared reading. */
export interface WaitSpec {
  readonly key: string;
  readonly lane: LaneKind;
  /** The longest one blocking command may wait, in ms (the reader's `pollingInterval`). */
  readonly block: number;
  /** Called when a lane's read may have been answered into a lost connection (re-read the PEL). */
  readonly lost: () => void;
}

/** A reader's membership in shared reading. */
export interface Ticket {
  /**
   * Resolves once the key may have something, or what a lane read for it arrived, and at the
   * latest after `limit` ms. `count`: the most entries or elements the reader wants at once;
   * `cursor`: for a read without a group, the last entry ID seen.
   */
  wait(limit: number, count: number, cursor?: string): Promise<void>;
  /** At most `max` of what a lane read for this reader (entries or list elements), oldest first. */
  take(max: number): unknown[];
  /**
   * Whether waiting again beats reading now, after taking what a lane read: everything it read
   * was taken, and either its last read brought fewer than it asked for (the key had nothing
   * more), or it asked for one and no other reader waits in the lane (a wait there returns at
   * once if more is there, and costs one command, as a read would), unless reads before waiting
   * have lately found something (see LaneTicket). A full read of more than one says more is
   * likely there: the reader reads on, with its own count.
   */
  readonly idleAgain: boolean;
  /** Whether the lane's last read for this reader brought fewer entries or elements than it asked for. */
  readonly short: boolean;
  /**
   * Whether, after a read of its own that found fewer than it asked for (the key was drained),
   * the reader should wait rather than read again: always with a doorbell (a write after the read
   * rings it); in a lane only when no other reader waits there (else joining costs an unblock).
   */
  readonly waitsWhenDrained: boolean;
  /** A read of the reader's own came back, with something (`found`) or nothing (a busy reader's doorbell is let go). */
  read(found: boolean): void;
  /** Ends a wait now. */
  wake(): void;
  /** Leaves; a lane command that covers the key is ended first, and what it took stays for take(). */
  close(): Promise<void>;
}

/** One lane delivery of a single entry or element in this many has its reader read before it waits (see LaneTicket). */
const READ_PROBE = 16;

/** How long a lane's command may outlive its BLOCK before the lane calls it stalled and reconnects. */
const STALL_GRACE = 5000;

/** The shared reading of one broker: lanes on one server, doorbells on a cluster. */
export class SharedReads {
  readonly #strategy: ConnectionStrategy;
  readonly #reading: SharedReading;
  readonly #hub: PubSubHub;
  readonly #foreignPoll: number;
  readonly #logger: Logger;
  readonly #lanes = new Map<string, Lane>();

  constructor(strategy: ConnectionStrategy, reading: SharedReading, hub: PubSubHub, foreignPoll: number, logger: Logger) {
    this.#strategy = strategy;
    this.#reading = reading;
    this.#hub = hub;
    this.#foreignPoll = foreignPoll;
    this.#logger = logger;
  }

  /** A connection-like view of the readers' shared connection for the reader of `key`: non-blocking reads only. */
  connection(key: string): BlockingConnection {
    const reading = this.#reading;
    return {
      send: (command, args) => reading.read(command, key, args),
      interrupt: () => Promise.resolve(),
      reset: () => Promise.resolve(),
      close: () => Promise.resolve(),
      get reconnects() {
        return reading.losses;
      },
    };
  }

  /** A shared read got no answer for long: the node may be frozen (the strategy looks again where keys live). */
  stalled(): Promise<void> {
    return this.#reading.stalled();
  }

  /** Joins `spec.key`'s reader to its lane, or subscribes it to its doorbell; resolves once it would be woken. */
  async join(spec: WaitSpec): Promise<Ticket> {
    await this.#reading.open();
    if (this.#reading.wakeup === 'doorbell') return DoorbellTicket.join(this.#hub, spec.key, this.#foreignPoll, this.#logger);
    const id = laneId(spec.lane);
    let lane = this.#lanes.get(id);
    if (!lane) {
      const created: Lane = new Lane(spec.lane, () => this.#strategy.openBlocking(spec.key), this.#logger, () => {
        if (this.#lanes.get(id) === created) this.#lanes.delete(id);
      });
      lane = created;
      this.#lanes.set(id, lane);
    }
    return lane.add(spec);
  }
}

function laneId(lane: LaneKind): string {
  return lane.kind === 'group' ? JSON.stringify([lane.kind, lane.group, lane.consumer, lane.noAck]) : lane.kind;
}

/** A ticket of a lane. */
class LaneTicket implements Ticket {
  readonly spec: WaitSpec;
  readonly #lane: Lane;
  /** What the lane took for this reader, not taken yet. */
  readonly #items: unknown[] = [];
  #error: Error | undefined;
  /** Set while the reader waits; the lane covers waiting tickets' keys. */
  #wakeUp: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #short = false;
  #asked = 0;
  /**
   * Whether, after the lane brought the one entry or element asked for, the reader reads again
   * before it waits: while such reads find something (a handler that publishes the next message
   * itself, say) a read costs Redis less than a blocking command and needs no lane. One delivery
   * in READ_PROBE tries it; the first read that finds nothing goes back to waiting.
   */
  #readsFirst = false;
  #probing = false;
  #deliveries = 0;
  cursor = '0-0';
  count = 1;

  constructor(spec: WaitSpec, lane: Lane) {
    this.spec = spec;
    this.#lane = lane;
  }

  get key(): string {
    return this.spec.key;
  }

  get waiting(): boolean {
    return this.#wakeUp !== undefined;
  }

  get idleAgain(): boolean {
    return this.#items.length === 0 && (this.#short || (this.#asked === 1 && this.#lane.waiting.size === 0 && !this.#readsFirst && !this.#probing));
  }

  get short(): boolean {
    return this.#short;
  }

  get waitsWhenDrained(): boolean {
    return this.#lane.waiting.size === 0;
  }

  wait(limit: number, count: number, cursor?: string): Promise<void> {
    // Nothing to wait for (items are here), or no time to (a claim is due): joining would only churn the lane.
    if (this.#items.length > 0 || this.#error || limit <= 0) return Promise.resolve();
    this.count = count;
    if (cursor !== undefined) this.cursor = cursor;
    return new Promise((resolve) => {
      this.#wakeUp = resolve;
      if (Number.isFinite(limit)) this.#timer = setTimeout(() => this.wake(), limit);
      this.#lane.armed(this);
    });
  }

  read(found: boolean): void {
    if (!this.#readsFirst && !this.#probing) return;
    this.#readsFirst = found;
    this.#probing = false;
  }

  take(max: number): unknown[] {
    if (this.#error) {
      const error = this.#error;
      this.#error = undefined;
      throw error;
    }
    return this.#items.splice(0, max);
  }

  wake(): void {
    clearTimeout(this.#timer);
    const wakeUp = this.#wakeUp;
    if (!wakeUp) return;
    this.#wakeUp = undefined;
    this.#lane.waiting.delete(this);
    wakeUp();
  }

  close(): Promise<void> {
    this.wake();
    return this.#lane.remove(this);
  }

  /** What the lane read for this key; `asked`: the COUNT it read with. */
  deliver(items: readonly unknown[], asked: number): void {
    this.#items.push(...items);
    this.#short = items.length < asked;
    this.#asked = asked;
    if (asked === 1 && !this.#short) {
      this.#deliveries += 1;
      this.#probing = this.#deliveries % READ_PROBE === 0;
    }
    this.wake();
  }

  /** The lane's command failed because of this key (its group is gone): the reader's next read fails with it. */
  fail(error: Error): void {
    this.#error = error;
    this.wake();
  }
}

/**
 * One blocking command over the keys of every waiting ticket of one kind, sent again whenever it
 * returns; a ticket that starts waiting on a key the command on the wire does not cover ends that
 * command early (CLIENT UNBLOCK … TIMEOUT: nothing is taken) so the next one covers it. A command
 * goes out synchronously from the wait that needs it, so a reader that waits before running what
 * it has (as a read sent ahead would) overlaps the round trip with its handlers.
 */
class Lane {
  readonly #kind: LaneKind;
  readonly #open: () => Promise<BlockingConnection>;
  readonly #logger: Logger;
  readonly #emptied: () => void;
  readonly #tickets = new Set<LaneTicket>();
  /** Every ticket by key, leaving ones included: those are delivered to until the command covering them returned. */
  readonly #byKey = new Map<string, LaneTicket[]>();
  #opening: Promise<BlockingConnection> | undefined;
  #connection: BlockingConnection | undefined;
  #closed = false;
  /** The keys of the command on the wire; undefined between commands. */
  #covered: ReadonlySet<string> | undefined;
  /** The tickets it was sent for, and its BLOCK. */
  #coveredTickets: ReadonlySet<LaneTicket> | undefined;
  #block = 0;
  #since = 0;
  /** Settles when the command on the wire returned. */
  #current: Promise<void> = Promise.resolve();
  #failures = 0;
  #backoff: NodeJS.Timeout | undefined;
  #rearming = false;
  #rotation = 0;
  /** Tickets waiting now. */
  readonly waiting = new Set<LaneTicket>();
  #watchdog: NodeJS.Timeout | undefined;

  constructor(kind: LaneKind, open: () => Promise<BlockingConnection>, logger: Logger, emptied: () => void) {
    this.#kind = kind;
    this.#open = open;
    this.#logger = logger;
    this.#emptied = emptied;
  }

  async add(spec: WaitSpec): Promise<LaneTicket> {
    const ticket = new LaneTicket(spec, this);
    this.#tickets.add(ticket);
    this.#byKey.set(spec.key, [...(this.#byKey.get(spec.key) ?? []), ticket]);
    const opener = this.#opening === undefined;
    this.#opening ??= this.#open();
    try {
      this.#connection = await this.#opening;
    } catch (error) {
      // Every reader that joined while it opened leaves again; the next join opens anew.
      this.#tickets.delete(ticket);
      this.#forget(ticket);
      if (opener) this.#opening = undefined;
      throw error;
    }
    if (opener) {
      this.#watchdog = setInterval(() => void this.#checkStalled(), 1000);
      this.#watchdog.unref();
    }
    return ticket;
  }

  /** A ticket started waiting: make sure a command covers its key. */
  armed(ticket: LaneTicket): void {
    this.waiting.add(ticket);
    if (!this.#covered) this.#send();
    else if (!this.#covered.has(ticket.key)) void this.#rearm();
  }

  async remove(ticket: LaneTicket): Promise<void> {
    if (!this.#tickets.delete(ticket)) return;
    // Once the command sent for it returned, the next one is not sent for this ticket (though it
    // may cover its key for another).
    await this.#interruptWhile(() => this.#coveredTickets?.has(ticket) === true, 50);
    this.#forget(ticket);
    // Readers stop together: only the last one out closes the lane, once.
    if (this.#tickets.size > 0 || this.#closed) return;
    this.#closed = true;
    this.#emptied();
    clearInterval(this.#watchdog);
    clearTimeout(this.#backoff);
    await this.#current;
    await this.#connection?.close(true);
  }

  #forget(ticket: LaneTicket): void {
    const rest = (this.#byKey.get(ticket.key) ?? []).filter((one) => one !== ticket);
    if (rest.length > 0) this.#byKey.set(ticket.key, rest);
    else this.#byKey.delete(ticket.key);
  }

  /** Sends the command for every waiting ticket, unless one is on the wire or the lane backs off. */
  #send(): void {
    const connection = this.#connection;
    if (this.#covered || this.#closed || this.#backoff || !connection || this.waiting.size === 0) return;
    const waiting = [...this.waiting];
    const keys = [...new Set(waiting.map((ticket) => ticket.key))];
    const block = Math.min(...waiting.map((ticket) => ticket.spec.block));
    // COUNT applies to each key: no reader gets more than the least any of them asked for.
    const count = Math.max(1, Math.min(...waiting.map((ticket) => ticket.count)));
    const [name, args] = this.#command(keys, waiting, block, count);
    const reconnects = connection.reconnects;
    this.#covered = new Set(keys);
    this.#coveredTickets = new Set(waiting);
    this.#block = block;
    this.#since = Date.now();
    const sent = connection.send(name, args);
    this.#current = sent
      .then(
        (reply) => this.#answered(reply, count, connection.reconnects !== reconnects),
        (error: unknown) => this.#failed(error, name, keys.length),
      )
      .catch((error: unknown) => this.#failed(error, name, keys.length));
  }

  #answered(reply: unknown, count: number, reconnected: boolean): void {
    this.#failures = 0;
    this.#since = 0;
    // Delivered before the keys count as uncovered, so a leaving ticket gets what was read for it.
    if (reconnected) for (const ticket of this.#tickets) ticket.spec.lost();
    for (const [key, items] of this.#parse(reply)) this.#deliver(key, items, count);
    this.#covered = undefined;
    this.#coveredTickets = undefined;
    this.#send();
  }

  #failed(error: unknown, name: string, keys: number): void {
    this.#since = 0;
    this.#covered = undefined;
    this.#coveredTickets = undefined;
    if (this.#closed) return;
    if (this.#failedOn(error)) {
      this.#send();
      return;
    }
    this.#logger.error({ lane: name, err: error }, `Shared ${name} over ${keys} keys failed: ${(error as Error).message}`);
    this.#failures += 1;
    this.#backoff = setTimeout(() => {
      this.#backoff = undefined;
      this.#send();
    }, Math.min(100 * 2 ** this.#failures, 5000));
  }

  #command(keys: string[], waiting: readonly LaneTicket[], block: number, count: number): [string, Array<string | number>] {
    const kind = this.#kind;
    if (kind.kind === 'list') {
      // Rotate, so a list that always has elements does not keep the others waiting.
      const start = this.#rotation++ % keys.length;
      const order = [...keys.slice(start), ...keys.slice(0, start)];
      return ['BLMPOP', [block / 1000, order.length, ...order, 'LEFT', 'COUNT', count]];
    }
    if (kind.kind === 'read') {
      // Two readers of one stream may stand at different entries: read from the earlier.
      const from = new Map<string, string>();
      for (const ticket of waiting) {
        const known = from.get(ticket.key);
        if (known === undefined || compareIds(ticket.cursor, known) < 0) from.set(ticket.key, ticket.cursor);
      }
      const cursors = keys.map((key) => from.get(key)!);
      return ['XREAD', ['COUNT', count, 'BLOCK', block, 'STREAMS', ...keys, ...cursors]];
    }
    const args: Array<string | number> = ['GROUP', kind.group, kind.consumer, 'COUNT', count, 'BLOCK', block];
    if (kind.noAck) args.push('NOACK');
    return ['XREADGROUP', [...args, 'STREAMS', ...keys, ...keys.map(() => '>')]];
  }

  /** The reply as (key, what was read for it: entries or list elements). */
  #parse(reply: unknown): Array<[string, unknown[]]> {
    if (reply === null || reply === undefined) return [];
    if (this.#kind.kind === 'list') {
      const [key, items] = reply as [Buffer, Buffer[]];
      return [[String(key), items]];
    }
    const streams = reply as NonNullable<ReadReply>;
    return streams.map(([key, entries]) => [String(key), entries]);
  }

  #deliver(key: string, items: unknown[], asked: number): void {
    // A waiting reader first, then one that runs, then one that is leaving (it runs what it gets before it stops).
    let target: LaneTicket | undefined;
    let live: LaneTicket | undefined;
    let leaving: LaneTicket | undefined;
    for (const ticket of this.#byKey.get(key) ?? []) {
      if (ticket.waiting) {
        target = ticket;
        break;
      }
      if (this.#tickets.has(ticket)) live ??= ticket;
      else leaving ??= ticket;
    }
    target ??= live ?? leaving;
    if (target) {
      target.deliver(items, asked);
      return;
    }
    if (items.length > 0) this.#logger.error({ subscriber: key }, `A shared read took ${items.length} item(s) of "${key}" after its reader left.`);
  }

  /** A group read fails as a whole when one stream lost its group (NOGROUP): that key's reader handles it. */
  #failedOn(error: unknown): boolean {
    const match = /^NOGROUP No such key '(.*)' or consumer group/.exec(error instanceof Error ? error.message : '');
    if (!match) return false;
    const tickets = this.#byKey.get(match[1]!) ?? [];
    for (const ticket of tickets) ticket.fail(error as Error);
    return tickets.length > 0;
  }

  /** Ends the command on the wire so the next covers every waiting key (at most 100 unblocks). */
  async #rearm(): Promise<void> {
    if (this.#rearming) return;
    this.#rearming = true;
    try {
      await this.#interruptWhile(() => this.#uncovered(), 5, 100);
    } finally {
      this.#rearming = false;
    }
  }

  /**
   * Unblocks the command on the wire while `still()` holds, waiting up to `pause` ms for it to
   * return after each unblock. Repeated because an unblock can reach Redis just before the command
   * it was meant for (they travel on different connections).
   */
  async #interruptWhile(still: () => boolean, pause: number, attempts = Number.POSITIVE_INFINITY): Promise<void> {
    for (let attempt = 0; attempt < attempts && still(); attempt += 1) {
      await this.#connection?.interrupt();
      await settlesWithin(this.#current, pause);
    }
  }

  #uncovered(): boolean {
    const covered = this.#covered;
    if (!covered) return false;
    for (const ticket of this.waiting) if (!covered.has(ticket.key)) return true;
    return false;
  }

  /** A command that outlives its BLOCK by STALL_GRACE hangs on a connection that will not answer: reconnect. */
  async #checkStalled(): Promise<void> {
    const since = this.#since;
    if (since === 0 || Date.now() - since < this.#block + STALL_GRACE) return;
    this.#since = 0;
    this.#logger.warn({ lane: this.#kind.kind }, `Shared read stalled for ${Date.now() - since} ms; reconnecting.`);
    await this.#connection?.reset().catch(() => undefined);
  }
}

/**
 * Reads in a row that found something, after which a reader lets its doorbell go: it is busy, and
 * every write would only push it a ring it does not need. See DoorbellTicket.
 */
const BUSY_READS = 16;

/**
 * A reader woken by its key's doorbell, and by a poll every `foreignPollInterval` ms. The doorbell
 * is subscribed while the reader may wait. A busy reader (BUSY_READS reads in a row found
 * something) lets it go: while its reads keep finding something, a wait returns at once and it
 * reads again, as a ring would have had it do, without the ring. Once a read comes back empty,
 * its wait subscribes again and reads once more before it really waits, since a write between
 * that read and the subscription rang nobody.
 */
class DoorbellTicket implements Ticket {
  readonly #hub: PubSubHub;
  readonly #channel: string | undefined;
  readonly #poll: number;
  readonly #logger: Logger;
  readonly #listener: (channel: string, payload: Buffer) => void;
  #rung = false;
  #wakeUp: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Unsubscribes the doorbell; undefined while it is not subscribed. */
  #unsubscribe: (() => Promise<void>) | undefined;
  /** Whether the doorbell is subscribed, or on its way to be. */
  #held = false;
  /** The last subscribe or unsubscribe, which the next one follows. */
  #change: Promise<void> = Promise.resolve();
  /** Reads in a row that found something. */
  #found = 0;
  /**
   * Subscribed just now: a writer that rang to nobody before may still be hushed (see
   * doorbellTiming), so the next wait lasts no longer than two hushes (one, and as long again for
   * a hushed write still on its way).
   */
  #fresh = false;
  #closed = false;

  private constructor(hub: PubSubHub, key: string, poll: number, logger: Logger) {
    this.#hub = hub;
    this.#channel = doorbellOf(key);
    this.#poll = poll;
    this.#logger = logger;
    const name = Buffer.from(key);
    this.#listener = (_channel, payload) => {
      if (payload.equals(name)) this.#ring();
    };
  }

  static async join(hub: PubSubHub, key: string, poll: number, logger: Logger): Promise<DoorbellTicket> {
    const ticket = new DoorbellTicket(hub, key, poll, logger);
    if (ticket.#channel !== undefined) {
      ticket.#held = true;
      ticket.#unsubscribe = await hub.subscribe('sharded', ticket.#channel, ticket.#listener);
      ticket.#fresh = true;
    }
    return ticket;
  }

  wait(limit: number): Promise<void> {
    if (this.#rung) {
      this.#rung = false;
      return Promise.resolve();
    }
    // Busy, without a doorbell: read again, as a ring would have said to.
    if (!this.#held && this.#found > 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#wakeUp = resolve;
      if (this.#held || this.#channel === undefined) {
        this.#arm(limit);
        return;
      }
      // Subscribed again, the reader reads once more before it waits; if that fails, it polls.
      void this.#hold().then((held) => (held ? this.wake() : this.#arm(limit)));
    });
  }

  read(found: boolean): void {
    this.#found = found ? this.#found + 1 : 0;
    if (this.#found >= BUSY_READS && this.#held && !this.#closed && this.#channel !== undefined) this.#release();
  }

  take(): unknown[] {
    return [];
  }

  get idleAgain(): boolean {
    return false;
  }

  get short(): boolean {
    return false;
  }

  get waitsWhenDrained(): boolean {
    return true;
  }

  wake(): void {
    clearTimeout(this.#timer);
    const wakeUp = this.#wakeUp;
    this.#wakeUp = undefined;
    wakeUp?.();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.wake();
    if (this.#held) this.#release();
    await this.#change;
  }

  #arm(limit: number): void {
    if (!this.#wakeUp) return;
    const fresh = this.#fresh;
    this.#fresh = false;
    this.#timer = setTimeout(() => this.wake(), Math.min(limit, this.#poll, fresh ? 2 * doorbellTiming.hushMs : Infinity));
  }

  /** Subscribes the doorbell again (after the unsubscribe before it); false if Redis refused. */
  #hold(): Promise<boolean> {
    this.#held = true;
    const held = this.#change.then(async () => {
      if (this.#closed) return false;
      this.#unsubscribe = await this.#hub.subscribe('sharded', this.#channel!, this.#listener);
      this.#fresh = true;
      return true;
    });
    const failed = (error: unknown): boolean => {
      this.#held = false;
      this.#logger.warn({ channel: this.#channel, err: error }, `Could not subscribe to doorbell "${this.#channel}": ${(error as Error).message}; polling until the next wait.`);
      return false;
    };
    const outcome = held.catch(failed);
    this.#change = outcome.then(() => undefined);
    return outcome;
  }

  /** Lets the doorbell go (after the subscribe before it). */
  #release(): void {
    this.#held = false;
    this.#rung = false;
    this.#change = this.#change.then(async () => {
      const unsubscribe = this.#unsubscribe;
      this.#unsubscribe = undefined;
      // A doorbell left subscribed only costs rings that no listener takes.
      await unsubscribe?.().catch(() => undefined);
    });
  }

  /** A ring while the reader is reading is kept: its read may have left before the write. */
  #ring(): void {
    if (this.#wakeUp) this.wake();
    else this.#rung = true;
  }
}
