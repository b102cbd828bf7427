import { BrokerClosedError, NotConnectedError } from './errors.js';

/** Where a broker is in its lifecycle. */
export const BrokerState = {
  IDLE: 'idle',
  CONNECTED: 'connected',
  RUNNING: 'running',
  CLOSED: 'closed',
} as const;
/** One of the {@link BrokerState} values. */
export type BrokerState = (typeof BrokerState)[keyof typeof BrokerState];

/** The four steps a transport supplies to {@link Lifecycle}. */
export interface LifecycleSteps {
  connect(): Promise<void>;
  start(): Promise<void>;
  /** Stops subscribers gracefully. */
  stop(): Promise<void>;
  /** Closes every connection. */
  disconnect(): Promise<void>;
}

/**
 * Broker lifecycle: connect → start → stop → close, each idempotent and safe to call
 * concurrently (steps run one after another). A transport supplies the four steps.
 */
export class Lifecycle {
  readonly #steps: LifecycleSteps;
  #state: BrokerState = BrokerState.IDLE;
  /** Set by stop(): publishing no longer connects by itself (a stopped service should be able to exit). */
  #stopped = false;
  #queue: Promise<void> = Promise.resolve();

  constructor(steps: LifecycleSteps) {
    this.#steps = steps;
  }

  get state(): BrokerState {
    return this.#state;
  }

  connect(): Promise<void> {
    return this.#serialize(() => {
      this.#stopped = false;
      return this.#connect('connect');
    });
  }

  start(): Promise<void> {
    return this.#serialize(async () => {
      this.#stopped = false;
      await this.#connect('start');
      if (this.#state === BrokerState.RUNNING) return;
      try {
        await this.#steps.start();
      } catch (error) {
        await this.#steps.stop();
        throw error;
      }
      this.#state = BrokerState.RUNNING;
    });
  }

  stop(): Promise<void> {
    return this.#serialize(async () => {
      if (this.#state === BrokerState.IDLE || this.#state === BrokerState.CLOSED) return;
      await this.#shutdown();
      this.#state = BrokerState.IDLE;
      this.#stopped = true;
    });
  }

  close(): Promise<void> {
    return this.#serialize(async () => {
      if (this.#state === BrokerState.CLOSED) return;
      if (this.#state !== BrokerState.IDLE) await this.#shutdown();
      this.#state = BrokerState.CLOSED;
    });
  }

  /** Connects if idle (lazy connect for publishing); fails if closed. */
  async ensureConnected(what: string): Promise<void> {
    if (this.#state === BrokerState.CONNECTED || this.#state === BrokerState.RUNNING) return;
    if (this.#state === BrokerState.CLOSED) throw new BrokerClosedError(what);
    if (this.#stopped) throw new NotConnectedError(`Cannot ${what}: the broker was stopped. Call connect() or start() to use it again.`);
    await this.#serialize(() => this.#connect(what));
  }

  async #connect(what: string): Promise<void> {
    if (this.#state === BrokerState.CLOSED) throw new BrokerClosedError(what);
    if (this.#state !== BrokerState.IDLE) return;
    try {
      await this.#steps.connect();
    } catch (error) {
      await this.#steps.disconnect().catch(() => undefined);
      throw error;
    }
    this.#state = BrokerState.CONNECTED;
  }

  async #shutdown(): Promise<void> {
    if (this.#state === BrokerState.RUNNING) await this.#steps.stop();
    await this.#steps.disconnect();
  }

  #serialize(step: () => Promise<void>): Promise<void> {
    const next = this.#queue.then(step);
    this.#queue = next.catch(() => undefined);
    return next;
  }
}
