/**
 * What every running subscriber does, and the read loop shared by blocking readers (lists and
 * streams): one dedicated connection, sequential processing, back-off on errors, graceful stop.
 */
import { consume, type ConsumerConfig } from '../../core/consume.js';
import type { Logger } from '../../core/logger.js';
import type { Message } from '../../core/message.js';
import { Pause, settlesWithin } from '../../core/time.js';
import type { BlockingConnection, ConnectionStrategy } from '../connection/strategy.js';

export interface RuntimeSubscriber {
  readonly name: string;
  /** Resolves once the subscriber is really listening. */
  start(): Promise<void>;
  /** Stops reading, waits up to `gracefulTimeout` ms for in-flight work, releases connections. */
  stop(gracefulTimeout: number): Promise<void>;
}

export interface LoopDeps {
  readonly strategy: ConnectionStrategy;
  readonly config: ConsumerConfig;
  readonly logger: Logger;
}

/** What to do after a failed read. */
export type ReadFailure = 'retry' | 'stop';

export abstract class ReadLoop implements RuntimeSubscriber {
  abstract readonly name: string;
  protected readonly deps: LoopDeps;
  #running = false;
  #loop: Promise<void> | undefined;
  #connection: BlockingConnection | undefined;
  readonly #pause = new Pause();

  constructor(deps: LoopDeps) {
    this.deps = deps;
  }

  async start(): Promise<void> {
    if (this.#running) return;
    await this.prepare();
    this.#connection = await this.deps.strategy.openBlocking(this.name);
    this.#running = true;
    this.#loop = this.#run(this.#connection);
  }

  async stop(gracefulTimeout: number): Promise<void> {
    if (!this.#loop) return;
    this.#running = false;
    this.#pause.wake();
    const finished = await this.#awaitLoop(this.#loop, gracefulTimeout);
    if (!finished) {
      this.deps.logger.warn({ subscriber: this.name }, `Handlers still running after gracefulTimeout (${gracefulTimeout} ms); closing anyway.`);
    }
    this.#loop = undefined;
    await this.#connection?.close(!finished);
    this.#connection = undefined;
  }

  /**
   * Waits for the loop, unblocking its read. The unblock is repeated because it can reach Redis
   * just before the read it was meant for (they travel on different connections).
   */
  async #awaitLoop(loop: Promise<void>, gracefulTimeout: number): Promise<boolean> {
    const deadline = Date.now() + gracefulTimeout;
    for (;;) {
      await this.#connection?.interrupt();
      const left = deadline - Date.now();
      if (left <= 0) return false;
      if (await settlesWithin(loop, Math.min(left, 200))) return true;
    }
  }

  protected get running(): boolean {
    return this.#running;
  }

  /** Runs before the connection opens (e.g. creating the consumer group). */
  protected abstract prepare(): Promise<void>;
  /** One read; an empty array when nothing arrived within the polling interval. */
  protected abstract read(connection: BlockingConnection): Promise<Message[]>;
  /** Whether messages already read must still be processed after stop() (true when they would be lost). */
  protected abstract readonly finishReadMessages: boolean;

  /** Decides about a failed read; the default logs and retries with back-off. */
  protected onReadError(error: unknown): Promise<ReadFailure> | ReadFailure {
    this.deps.logger.error({ subscriber: this.name, err: error }, `Message fetch error: ${(error as Error).message}`);
    return 'retry';
  }

  async #run(connection: BlockingConnection): Promise<void> {
    let failures = 0;
    while (this.#running) {
      let messages: Message[];
      try {
        messages = await this.read(connection);
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
      for (const message of messages) {
        if (!this.#running && !this.finishReadMessages) break;
        await consume(this.deps.config, message);
      }
    }
  }
}
