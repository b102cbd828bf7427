import { resolveLogger, type Logger } from './logger.js';

/** The broker side the app needs. */
export interface AppBroker {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A startup or shutdown hook; the app awaits it before going on. `options` are the extra
 * `--key value` options of `redstream run` (empty otherwise), as FastStream passes them to
 * `on_startup` hooks.
 */
export type Hook = (options: Readonly<Record<string, string>>) => void | Promise<void>;

/**
 * Options for {@link App}.
 *
 * @example
 * ```ts
 * new App(broker, { signals: ['SIGTERM'], logger: null });
 * ```
 */
export interface AppOptions {
  /**
   * Where the app logs its start and stop lines; `null` silences them.
   * @defaultValue the console logger at level `info`
   */
  readonly logger?: Logger | null;
  /** Signals that stop the app. @defaultValue `['SIGINT', 'SIGTERM']` */
  readonly signals?: readonly NodeJS.Signals[];
}

/**
 * An application around one broker: startup and shutdown hooks in FastStream's order, and a
 * graceful stop on SIGINT/SIGTERM.
 *
 * Order: onStartup → broker.start() → afterStartup → (signal or exit()) → onShutdown →
 * broker.stop() → afterShutdown.
 */
export class App {
  readonly broker: AppBroker;
  readonly #logger: Logger;
  readonly #signals: readonly NodeJS.Signals[];
  readonly #hooks = { onStartup: [] as Hook[], afterStartup: [] as Hook[], onShutdown: [] as Hook[], afterShutdown: [] as Hook[] };
  #exit: (() => void) | undefined;
  #exitRequested = false;

  constructor(broker: AppBroker, options: AppOptions = {}) {
    this.broker = broker;
    this.#logger = resolveLogger(options.logger);
    this.#signals = options.signals ?? ['SIGINT', 'SIGTERM'];
  }

  /** Runs before the broker starts. */
  onStartup(hook: Hook): this {
    this.#hooks.onStartup.push(hook);
    return this;
  }

  /** Runs once the broker is started. */
  afterStartup(hook: Hook): this {
    this.#hooks.afterStartup.push(hook);
    return this;
  }

  /** Runs before the broker stops. */
  onShutdown(hook: Hook): this {
    this.#hooks.onShutdown.push(hook);
    return this;
  }

  /** Runs after the broker stopped. */
  afterShutdown(hook: Hook): this {
    this.#hooks.afterShutdown.push(hook);
    return this;
  }

  /**
   * Starts, waits for a signal or {@link exit}, then shuts down gracefully. Signal handlers are
   * installed before startup, so a signal during startup shuts down once startup finished.
   */
  async run(options: Readonly<Record<string, string>> = {}): Promise<void> {
    const stopRequested = new Promise<void>((resolve) => {
      const onSignal = (signal: NodeJS.Signals): void => {
        this.#logger.info({ signal }, `Received ${signal}`);
        this.exit();
      };
      for (const signal of this.#signals) process.on(signal, onSignal);
      this.#exit = () => {
        for (const signal of this.#signals) process.off(signal, onSignal);
        resolve();
      };
      if (this.#exitRequested) this.#exit();
    });
    try {
      await this.startup(options);
    } catch (error) {
      this.#exit?.();
      throw error;
    }
    await stopRequested;
    await this.shutdown(options);
  }

  /** Makes {@link run} shut down, as a signal would. */
  exit(): void {
    this.#exitRequested = true;
    this.#exit?.();
  }

  /** onStartup hooks, broker start, afterStartup hooks. */
  async startup(options: Readonly<Record<string, string>> = {}): Promise<void> {
    this.#logger.info({}, 'redstream app starting...');
    for (const hook of this.#hooks.onStartup) await hook(options);
    await this.broker.start();
    for (const hook of this.#hooks.afterStartup) await hook(options);
    this.#logger.info({}, 'redstream app started successfully; press Ctrl+C to exit');
  }

  /** onShutdown hooks, broker stop, afterShutdown hooks. */
  async shutdown(options: Readonly<Record<string, string>> = {}): Promise<void> {
    this.#logger.info({}, 'redstream app shutting down...');
    for (const hook of this.#hooks.onShutdown) await hook(options);
    await this.broker.stop();
    for (const hook of this.#hooks.afterShutdown) await hook(options);
    this.#logger.info({}, 'redstream app shut down gracefully');
  }
}
