/** Running subscribers, and the read loop that list and stream subscribers share. */
import { consume, type ConsumerConfig } from '../../core/consume.js';
import type { Logger } from '../../core/logger.js';
import type { Message } from '../../core/message.js';
import { WorkerPool } from '../../core/pool.js';
import { Pause, settlesWithin } from '../../core/time.js';
import type { BlockingConnection, ConnectionStrategy } from '../connection/strategy.js';
import type { RedisProducer } from '../producer/producer.js';

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
}

/** What to do after a failed read. */
export type ReadFailure = 'retry' | 'stop';

/** How much longer than its own timeout a read may take before the watchdog calls it stalled. */
export const WATCHDOG_GRACE = 5000;

/**
 * The read loop shared by blocking readers (lists and streams): one dedicated connection, at most
 * `maxWorkers` messages in flight (a read asks for no more than the workers that will be free for
 * it; see #run), back-off on errors, and a graceful stop.
 */
export abstract class ReadLoop implements RuntimeSubscriber {
  abstract readonly name: string;
  protected readonly deps: LoopDeps;
  readonly #pool: WorkerPool;
  #running = false;
  #loop: Promise<void> | undefined;
  #connection: BlockingConnection | undefined;
  readonly #pause = new Pause();
  #readSince = 0;
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
    this.#connection = await this.deps.strategy.openBlocking(this.name);
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
    const deadline = Date.now() + gracefulTimeout;
    const finished =
      (await this.#awaitLoop(this.#loop, deadline)) &&
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
    const pool = this.#pool;
    const half = Math.max(1, Math.floor(pool.size / 2));
    let failures = 0;
    let ahead: Promise<Message[]> | undefined;
    // Whether the last messages started all finished synchronously.
    let synchronous = false;
    while (this.#running) {
      let messages: Message[];
      try {
        if (ahead) {
          const next = ahead;
          ahead = undefined;
          messages = await next;
        } else {
          const capacity = await pool.capacity(half);
          if (!this.#running) break;
          messages = await this.#read(connection, capacity);
        }
        failures = 0;
      } catch (error) {
        if (!this.#running) break;
        if ((await this.onReadError(error)) === 'stop') {
          this.#running = false;
          break;
        }
        failures += 1;
        await this.#pause.sleep(Math.min(100 * 2 ** failures, 5000));
        continue;
      }
      if (messages.length === 0) continue;
      // A read sent ahead counted on its predecessors finishing at once; if they did not, wait.
      if (pool.free < messages.length) await pool.capacity(messages.length);
      const free = synchronous ? pool.free : pool.free - messages.length;
      const next = this.readsTakeNothing ? Math.max(free, half) : free;
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

  async #read(connection: BlockingConnection, capacity: number): Promise<Message[]> {
    this.#readSince = Date.now();
    try {
      return await this.read(connection, capacity);
    } finally {
      this.#readSince = 0;
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
   */
  async #checkStalled(): Promise<void> {
    const since = this.#readSince;
    if (!this.#running || since === 0 || Date.now() - since < this.readTimeout + WATCHDOG_GRACE) return;
    this.#readSince = 0;
    this.deps.logger.warn({ subscriber: this.name }, `Read stalled for ${Date.now() - since} ms; reconnecting.`);
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
