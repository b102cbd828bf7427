/** Running subscribers, and the read loop that list and stream subscribers share. */
import { consume, type ConsumerConfig } from '../../core/consume.js';
import type { Logger } from '../../core/logger.js';
import type { Message } from '../../core/message.js';
import { WorkerPool } from '../../core/pool.js';
import { Pause, settlesWithin } from '../../core/time.js';
import type { BlockingConnection, ConnectionStrategy } from '../connection/strategy.js';
import type { RedisProducer } from '../producer/producer.js';
import type { SharedReads, Ticket, WaitSpec } from './shared.js';

/** What every running subscriber (channel, list or stream) does. */
export interface RuntimeSubscriber {
  readonly name: string;
  /** Resolves once the subscriber is really listening. */
  start(): Promise<void>;
  /** Stops reading, waits up to `gracefulTimeout` ms for in-flight work, releases connections. */
  stop(gracefulTimeout: number): Promise<void>;
}

/** What a read loop needs from its broker. */
export interface LoopDeps {
  readonly strategy: ConnectionStrategy;
  /** Writes its acknowledgements and dead letters. */
  readonly producer: RedisProducer;
  readonly config: ConsumerConfig;
  readonly logger: Logger;
  /** Messages processed at once. */
  readonly maxWorkers: number;
  /** Shared reading; undefined: the reader opens a blocking connection of its own. */
  readonly shared: SharedReads | undefined;
}

/** What to do after a failed read. */
export type ReadFailure = 'retry' | 'stop';

/** How much longer than its own timeout a read may take before the watchdog calls it stalled. */
export const WATCHDOG_GRACE = 5000;

/**
 * The read loop of list and stream readers: at most `maxWorkers` messages in flight (a read asks
 * for no more than the workers that will be free for it; see #run), back-off on errors, and a
 * graceful stop. By default its reads go, without blocking, on the connection the broker's
 * readers share, and it waits for its key through shared reading (./shared.ts) when a read came back
 * empty; with `dedicatedConnection`, or where the strategy has no shared reading, it blocks on a
 * connection of its own.
 */
export abstract class ReadLoop implements RuntimeSubscriber {
  abstract readonly name: string;
  protected readonly deps: LoopDeps;
  readonly #pool: WorkerPool;
  #running = false;
  #loop: Promise<void> | undefined;
  #connection: BlockingConnection | undefined;
  #ticket: Ticket | undefined;
  readonly #pause = new Pause();
  #readSince = 0;
  /** Bumped when the watchdog gives up on a stalled shared read and starts a new loop. */
  #generation = 0;
  #watchdog: NodeJS.Timeout | undefined;
  /**
   * Acknowledgements still on their way to Redis, each with the messages it settles (acks sent
   * together share one promise); stop() waits for them.
   */
  readonly #settling = new Map<Promise<void>, Message[]>();

  constructor(deps: LoopDeps) {
    this.deps = deps;
    this.#pool = new WorkerPool(deps.maxWorkers);
  }

  async start(): Promise<void> {
    if (this.#running) return;
    await this.prepare();
    const shared = this.dedicated ? undefined : this.deps.shared;
    if (shared) {
      this.#ticket = await shared.join({ ...this.waitSpec(), lost: () => this.lost() });
      this.#connection = shared.connection(this.name);
    } else {
      this.#connection = await this.deps.strategy.openBlocking(this.name);
    }
    this.#running = true;
    this.#loop = this.#run(this.#connection);
    this.#watchdog = setInterval(() => void this.#checkStalled(), 1000);
    this.#watchdog.unref();
  }

  async stop(gracefulTimeout: number): Promise<void> {
    if (!this.#loop) return;
    this.#running = false;
    clearInterval(this.#watchdog);
    this.#pause.wake();
    this.#ticket?.wake();
    const deadline = Date.now() + gracefulTimeout;
    const looped = await this.#awaitLoop(this.#loop, deadline);
    // Always leave shared reading, even past the deadline: a reader that stays would keep its lane open.
    const left = await this.#leave(deadline);
    const finished =
      looped &&
      left &&
      (await this.#pool.drain(Math.max(0, deadline - Date.now()))) &&
      (await settlesWithin(Promise.allSettled(this.#settling.keys()), Math.max(0, deadline - Date.now())));
    if (!finished) {
      this.deps.logger.warn({ subscriber: this.name }, `Handlers still running after gracefulTimeout (${gracefulTimeout} ms); closing anyway.`);
    }
    this.#loop = undefined;
    await this.#connection?.close(!finished);
    this.#connection = undefined;
  }

  protected get running(): boolean {
    return this.#running;
  }

  /** Whether reads block on a connection of this reader's own (else they return at once, and the reader waits through shared reading). */
  protected get blocks(): boolean {
    return this.#ticket === undefined;
  }

  /** Whether this reader wants a connection of its own (`dedicatedConnection`). */
  protected abstract readonly dedicated: boolean;
  /** How this reader waits with others when idle. */
  protected abstract waitSpec(): Omit<WaitSpec, 'lost'>;
  /**
   * What a shared read took for this reader (stream entries or list elements), as messages; a
   * batch reader tops the batch up with a read on `connection` (undefined while stopping).
   */
  protected abstract delivered(items: unknown[], connection: BlockingConnection | undefined): Promise<Message[]>;
  /**
   * Whether the last empty read means nothing is there (else, e.g. at the end of a drain, the
   * next read goes out at once).
   */
  protected get idle(): boolean {
    return true;
  }
  /** Whether the last read was for new entries or elements and brought fewer than it asked for. */
  protected get drained(): boolean {
    return false;
  }
  /** The longest an idle reader may wait before reading again (e.g. until its next claim), in ms. */
  protected waitLimit(): number {
    return Number.POSITIVE_INFINITY;
  }
  /** The most messages one read asks for with `capacity` workers free. */
  protected abstract readCount(capacity: number): number;
  /** For a wait on a stream without a group: the last entry ID read. */
  protected waitCursor(): string | undefined {
    return undefined;
  }
  /** A shared read may have been answered into a lost connection. */
  protected lost(): void {}

  /** The longest a read may legitimately take (its BLOCK / timeout), in ms. */
  protected abstract readonly readTimeout: number;

  /** Runs before the connection opens (e.g. creating the consumer group). */
  protected abstract prepare(): Promise<void>;
  /** One read of at most `capacity` messages; empty when nothing arrived within the polling interval. */
  protected abstract read(connection: BlockingConnection, capacity: number): Promise<Message[]>;

  /**
   * True when a read takes nothing from Redis (a stream read without a group): the next read may
   * then go out while every worker is busy, and what it brings waits for a free one.
   */
  protected get readsTakeNothing(): boolean {
    return false;
  }

  /** Whether what a read brought can be read again if dropped (group entries stay pending). */
  protected get readsAgain(): boolean {
    return false;
  }

  /**
   * Whether reads may bring more messages than there are free workers (a partition's only reader:
   * no other consumer could have taken them). They then start one by one as workers free up, in
   * order, so `maxWorkers: 1` still handles them one after another.
   */
  protected get readsAhead(): boolean {
    return false;
  }

  /** Called when a message left the pipeline and its settlement reached Redis (or failed). */
  protected processed(_message: Message): void {}

  /** Decides about a failed read; the default logs and retries with back-off. */
  protected onReadError(error: unknown): Promise<ReadFailure> | ReadFailure {
    this.deps.logger.error({ subscriber: this.name, err: error }, `Message fetch error: ${(error as Error).message}`);
    return 'retry';
  }

  /**
   * Reads and starts messages until stopped. When the handlers keep finishing synchronously, the
   * next read leaves as soon as a read comes back, before its messages run, so the Redis round
   * trip overlaps their work: by the time its reply is handled they are done and the workers free.
   * Otherwise the next read asks only for the workers left free (or, when reads take nothing, for
   * at least half the pool anyway). Only one read is ever on the connection (a read's arguments
   * may depend on the previous reply).
   */
  async #run(connection: BlockingConnection): Promise<void> {
    const generation = this.#generation;
    const pool = this.#pool;
    const half = Math.max(1, Math.floor(pool.size / 2));
    let failures = 0;
    let ahead: Promise<Message[]> | undefined;
    // Whether the last messages started all finished synchronously.
    let synchronous = false;
    // Whether the messages came from a shared read after which waiting beats reading (see Ticket.idleAgain).
    let idleAgain = false;
    // Whether the next read is a wait (once workers are free).
    let waitNext = false;
    while (this.#running && generation === this.#generation) {
      let messages: Message[];
      try {
        idleAgain = false;
        if (ahead) {
          const next = ahead;
          ahead = undefined;
          messages = await next;
          idleAgain = this.#waitsWhenDrained();
        } else {
          const capacity = await pool.capacity(half);
          if (!this.#running) break;
          if (waitNext) {
            waitNext = false;
            if (this.idle) await this.#wait();
            if (!this.#running) break;
          }
          // A batch takes everything a shared read brought for it, in order.
          const delivered = this.#ticket?.take(this.readCount(capacity)) ?? [];
          if (delivered.length > 0) {
            const ticket = this.#ticket!;
            idleAgain = ticket.idleAgain;
            messages = await this.delivered(delivered, ticket.short ? undefined : connection);
          } else {
            messages = await this.#read(connection, capacity);
            idleAgain = this.#waitsWhenDrained();
          }
        }
        failures = 0;
      } catch (error) {
        if (!this.#running || generation !== this.#generation) break;
        // Handling the error can fail too (recreating a group while Redis is away): retry later.
        const verdict = await Promise.resolve()
          .then(() => this.onReadError(error))
          .catch((failure: unknown) => {
            this.deps.logger.error({ subscriber: this.name, err: failure }, `Could not recover from a failed read: ${(failure as Error).message}`);
            return 'retry' as const;
          });
        if (verdict === 'stop') {
          this.#running = false;
          break;
        }
        failures += 1;
        await this.#pause.sleep(Math.min(100 * 2 ** failures, 5000));
        continue;
      }
      if (generation !== this.#generation) {
        // A newer loop took over while this read hung. What it brought: group entries stay pending
        // and the newer loop re-reads them (lost()); list elements exist nowhere else now, so they
        // run, beside the newer loop's workers.
        for (const message of messages) {
          if (this.readsAgain) this.processed(message);
          else this.#start([message]);
        }
        return;
      }
      if (messages.length === 0) {
        if (this.#ticket && this.#running && this.idle) await this.#wait();
        continue;
      }
      if (pool.free < messages.length && this.readsAhead) {
        await this.#startInTurn(messages);
        synchronous = pool.free === pool.size;
        continue;
      }
      // A read sent ahead counted on its predecessors finishing at once; if they did not, wait.
      if (pool.free < messages.length) await pool.capacity(messages.length);
      const free = synchronous ? pool.free : pool.free - messages.length;
      const next = this.readsTakeNothing ? Math.max(free, half) : free;
      if (idleAgain && this.idle) {
        // As with a read sent ahead: the wait goes out before the messages run, for the workers they will leave free.
        const waiting = this.#running && next >= half ? this.#wait(next) : undefined;
        this.#start(messages);
        synchronous = pool.free === pool.size;
        if (waiting) await waiting;
        else waitNext = true;
        continue;
      }
      if (this.#running && next >= half) ahead = this.#read(connection, next);
      this.#start(messages);
      synchronous = pool.free === pool.size;
    }
    // A read already sent may have taken list elements, which exist nowhere else now: run them
    // too (stop() waits for this, within gracefulTimeout).
    if (ahead) {
      const rest = await ahead.catch(() => []);
      if (pool.free < rest.length) await pool.capacity(rest.length);
      this.#start(rest);
    }
  }

  /** Whether the last read of its own drained the key and the reader should wait next (see Ticket.waitsWhenDrained). */
  #waitsWhenDrained(): boolean {
    return this.drained && this.#ticket !== undefined && this.#ticket.waitsWhenDrained;
  }

  /** Waits, idle, for the key through shared reading, for `capacity` workers (those free now by default). */
  #wait(capacity = this.#pool.free): Promise<void> {
    return this.#ticket!.wait(this.waitLimit(), this.readCount(Math.max(1, capacity)), this.waitCursor());
  }

  /**
   * Leaves shared reading; what a shared read took for this reader meanwhile (list elements,
   * which exist nowhere else now) is processed too. False when the deadline passed first.
   */
  async #leave(deadline: number): Promise<boolean> {
    const ticket = this.#ticket;
    if (!ticket) return true;
    if (!(await settlesWithin(ticket.close(), Math.max(0, deadline - Date.now())))) return false;
    if (this.readsAhead) {
      // A lane may have read up to maxRecords for a reader that reads ahead: they stay pending
      // for whoever reads the partition next, instead of running one by one past the stop.
      try {
        ticket.take(Number.MAX_SAFE_INTEGER);
      } catch {
        // a failed shared read took nothing
      }
      return true;
    }
    for (;;) {
      let rest: Message[];
      try {
        rest = await this.delivered(ticket.take(1), undefined);
      } catch {
        return true; // a failed shared read took nothing
      }
      if (rest.length === 0) return true;
      await this.#pool.capacity(1);
      this.#start(rest);
    }
  }

  async #read(connection: BlockingConnection, capacity: number): Promise<Message[]> {
    const since = Date.now();
    this.#readSince = since;
    try {
      const messages = await this.read(connection, capacity);
      this.#ticket?.read(messages.length > 0);
      return messages;
    } finally {
      if (this.#readSince === since) this.#readSince = 0;
    }
  }

  /**
   * Starts messages one by one as workers free up. Once stopping, what has not started stays
   * pending (readsAhead readers read group entries) for whoever reads the partition next.
   */
  async #startInTurn(messages: readonly Message[]): Promise<void> {
    for (const [index, message] of messages.entries()) {
      await this.#pool.capacity(1);
      if (!this.#running) {
        for (const rest of messages.slice(index)) this.processed(rest);
        return;
      }
      this.#start([message]);
    }
  }

  #start(messages: readonly Message[]): void {
    for (const message of messages) this.#pool.run(() => this.#process(message));
  }

  /**
   * Runs the handler in a worker slot; the slot frees when it finished, not when the ack arrived.
   * A handler that finished synchronously makes no promise here.
   */
  #process(message: Message): Promise<void> | undefined {
    const outcome = consume(this.deps.config, message);
    if (outcome instanceof Promise) return outcome.then((done) => this.#track(message, done.settled));
    this.#track(message, outcome.settled);
    return undefined;
  }

  /** Calls processed(message) once its settlement reached Redis: once per ack round trip, not per message. */
  #track(message: Message, settled: Promise<void>): void {
    const waiting = this.#settling.get(settled);
    if (waiting) {
      waiting.push(message);
      return;
    }
    const messages = [message];
    this.#settling.set(settled, messages);
    const done = (): void => {
      this.#settling.delete(settled);
      for (const one of messages) this.processed(one);
    };
    settled.then(done, (error: unknown) => {
      this.deps.logger.error(
        { subscriber: this.name, err: error },
        `Could not settle ${messages.length} message(s): ${(error as Error).message}. They stay pending and will be redelivered.`,
      );
      done();
    });
  }

  /**
   * A read that outlives its own timeout by WATCHDOG_GRACE hangs on a connection that will not
   * answer (a frozen node sends no RST): drop the connection so the loop reconnects and re-arms.
   * A shared read is abandoned instead (the reader re-reads its pending entries, and the cluster's
   * slot map is refreshed, so the next read goes where the key lives now).
   */
  async #checkStalled(): Promise<void> {
    const since = this.#readSince;
    if (!this.#running || since === 0 || Date.now() - since < this.readTimeout + WATCHDOG_GRACE) return;
    this.#readSince = 0;
    this.deps.logger.warn({ subscriber: this.name }, `Read stalled for ${Date.now() - since} ms; reconnecting.`);
    if (this.#ticket && this.#connection) {
      // A shared read cannot be cut off alone: a new loop takes over, and the old one, if its read
      // ever comes back, runs what it brought and ends.
      this.#generation += 1;
      this.lost();
      await this.deps.shared?.stalled();
      if (this.#running) this.#loop = this.#run(this.#connection);
      return;
    }
    await this.#connection?.reset().catch(() => undefined);
  }

  /**
   * Waits for the loop, unblocking its read. The unblock is repeated because it can reach Redis
   * just before the read it was meant for (they travel on different connections).
   */
  async #awaitLoop(loop: Promise<void>, deadline: number): Promise<boolean> {
    for (;;) {
      await this.#connection?.interrupt();
      const left = deadline - Date.now();
      if (left <= 0) return false;
      if (await settlesWithin(loop, Math.min(left, 200))) return true;
    }
  }
}
