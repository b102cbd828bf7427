/**
 * `redstream run`: the app in worker processes (one by default) that share the consumer groups,
 * restarted when one dies, reloaded on file changes with `--reload`, stopped gracefully on
 * SIGINT/SIGTERM (each worker finishes what it is processing first).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { watch, type FSWatcher } from 'node:fs';
import type { Server } from 'node:http';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from '../core/app.js';
import { OptionError } from '../core/errors.js';
import { serveHealth } from './health.js';
import { load, splitTarget } from './load.js';

/** Options of `redstream run`. */
export interface RunOptions {
  readonly workers: number;
  readonly reload: boolean;
  readonly logLevel: string | undefined;
  readonly healthPort: number | undefined;
  readonly healthHost: string;
  /** The extra `--key value` options, for the onStartup hooks. */
  readonly extra: Readonly<Record<string, string>>;
}

type WorkerMessage = { type: 'started' } | { type: 'failed'; message: string } | { type: 'health'; id: number; ok: boolean };

const ENTRY = fileURLToPath(new URL('./index.js', import.meta.url)).replace(/\.js$/, import.meta.url.endsWith('.ts') ? '.ts' : '.js');

/** Runs the primary: forks the workers, restarts them, serves health, stops them on a signal. Resolves with the exit code. */
export async function runPrimary(target: string, options: RunOptions): Promise<number> {
  if (!Number.isInteger(options.workers) || options.workers < 1) throw new OptionError('--workers', options.workers, 'a whole number from 1 up');
  if (options.reload && options.workers > 1) throw new OptionError('--reload', true, 'used with a single worker (drop --workers, or --reload)');
  const env = { ...process.env, ...(options.logLevel ? { REDSTREAM_LOG_LEVEL: options.logLevel } : {}) };
  const workers = new Set<ChildProcess>();
  let stopping = false;
  let failure: string | undefined;
  let done!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (done = resolve));
  let healthIds = 0;

  const start = (): void => {
    const child = fork(ENTRY, ['__worker', target, JSON.stringify(options.extra)], { env, execArgv: process.execArgv });
    let started = false;
    workers.add(child);
    child.on('message', (message: WorkerMessage) => {
      if (message.type === 'started') started = true;
      if (message.type === 'failed') failure = message.message;
    });
    child.on('exit', (code) => {
      workers.delete(child);
      if (!stopping && started) {
        console.error(`redstream: worker ${child.pid} exited (${code ?? 'signal'}); starting another.`);
        start();
        return;
      }
      // A worker that never started (bad module, Redis unreachable) would fail again: stop.
      if (!stopping) {
        stopping = true;
        for (const other of workers) other.kill('SIGTERM');
      }
      if (workers.size === 0) done(failure !== undefined || (!started && code !== 0) ? 1 : 0);
    });
  };

  const ready = async (): Promise<boolean> => {
    if (workers.size < options.workers || stopping) return false;
    const answers = [...workers].map(
      (child) =>
        new Promise<boolean>((resolve) => {
          const id = (healthIds += 1);
          const timer = setTimeout(() => resolve(false), 2000);
          const listen = (message: WorkerMessage): void => {
            if (message.type !== 'health' || message.id !== id) return;
            clearTimeout(timer);
            child.off('message', listen);
            resolve(message.ok);
          };
          child.on('message', listen);
          child.send({ type: 'health', id });
        }),
    );
    return (await Promise.all(answers)).every(Boolean);
  };

  const health: Server | undefined = options.healthPort === undefined ? undefined : await serveHealth(options.healthPort, options.healthHost, ready);
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    for (const child of workers) child.kill('SIGTERM');
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  let watcher: FSWatcher | undefined;
  if (options.reload) watcher = watchForReload(target, workers, () => stopping);
  for (let i = 0; i < options.workers; i += 1) start();
  const code = await finished;
  watcher?.close();
  await new Promise<void>((resolve) => (health ? health.close(() => resolve()) : resolve()));
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  if (failure !== undefined) console.error(`redstream: ${failure}`);
  return code;
}

/** Restarts the worker when a file under the module's folder changes (the exit handler starts the next). */
function watchForReload(target: string, workers: Set<ChildProcess>, stopping: () => boolean): FSWatcher {
  const folder = dirname(resolve(splitTarget(target).file));
  let timer: NodeJS.Timeout | undefined;
  return watch(folder, { recursive: true }, (_event, file) => {
    if (file?.includes('node_modules') || stopping()) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      console.error(`redstream: ${file ?? 'a file'} changed; reloading.`);
      for (const child of workers) child.kill('SIGTERM');
    }, 200);
  });
}

/** Runs inside a worker process: the app, until SIGINT/SIGTERM; reports to the primary over IPC. */
export async function runWorker(target: string, extra: Readonly<Record<string, string>>): Promise<void> {
  const send = (message: WorkerMessage): void => void process.send?.(message);
  try {
    const loaded = await load(target);
    const app = (loaded.app ?? new App(loaded.broker)) as App;
    process.on('message', (message: { type?: string; id?: number }) => {
      if (message.type !== 'health') return;
      const running = loaded.broker.state === 'running';
      void (running ? loaded.broker.ping(1000) : Promise.resolve(false)).then((ok) => send({ type: 'health', id: message.id ?? 0, ok }));
    });
    app.afterStartup(() => send({ type: 'started' }));
    await app.run(extra);
    process.exit(0);
  } catch (error) {
    send({ type: 'failed', message: (error as Error).message });
    process.exitCode = 1;
    process.disconnect?.();
  }
}
