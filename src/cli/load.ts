/**
 * Loading the user's module (`app.ts`, `dist/app.js`, `app.ts:broker`) and finding the App or
 * broker in it. TypeScript modules load through tsx (an optional peer dependency), no build step.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SetupError } from '../core/errors.js';
import type { BrokerDescription } from '../redis/description.js';

/** The broker side the CLI uses; any redstream broker has it. */
export interface CliBroker {
  start(): Promise<void>;
  stop(): Promise<void>;
  close(): Promise<void>;
  connect(): Promise<void>;
  ping(timeout?: number): Promise<boolean>;
  describe(): BrokerDescription;
  readonly state: string;
  publish(message: unknown, options: Record<string, unknown>): Promise<unknown>;
  request(message: unknown, options: Record<string, unknown>): Promise<{ body: unknown }>;
}

/** What the module exported: an App (with its broker) or a broker alone. */
export interface Loaded {
  readonly broker: CliBroker;
  readonly app: { run(options: Readonly<Record<string, string>>): Promise<void>; exit(): void } | undefined;
}

/** Splits `path[:export]`; a Windows drive letter is not an export name. */
export function splitTarget(target: string): { file: string; name: string } {
  const at = target.lastIndexOf(':');
  if (at > 1) return { file: target.slice(0, at), name: target.slice(at + 1) };
  return { file: target, name: 'default' };
}

/** Imports the module and returns its App or broker, with an error that says what to fix. */
export async function load(target: string): Promise<Loaded> {
  const { file, name } = splitTarget(target);
  const path = resolve(file);
  if (!existsSync(path)) throw new SetupError(`No module at ${path} (from "${target}"). Give the path of a .ts or .js file, e.g. \`redstream run src/app.ts\`.`);
  if (/\.[mc]?ts$/.test(path)) await registerTypeScript();
  const module = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  const value = module[name];
  if (value === undefined) {
    const names = Object.keys(module).join(', ') || 'nothing';
    throw new SetupError(`${file} has no export "${name}" (it exports ${names}). Export the App or broker as default, or name it: \`${file}:broker\`.`);
  }
  if (isBroker(value)) return { broker: value, app: undefined };
  const app = value as { broker?: unknown; run?: unknown; exit?: unknown };
  if (typeof app === 'object' && app !== null && isBroker(app.broker) && typeof app.run === 'function') {
    return { broker: app.broker, app: value as Loaded['app'] };
  }
  throw new SetupError(`The export "${name}" of ${file} is not a redstream App or broker. Export \`new App(broker)\` or the broker itself.`);
}

function isBroker(value: unknown): value is CliBroker {
  return typeof value === 'object' && value !== null && typeof (value as CliBroker).describe === 'function' && typeof (value as CliBroker).start === 'function';
}

let registered = false;

/** Lets `import()` load TypeScript, through tsx's loader. */
async function registerTypeScript(): Promise<void> {
  if (registered || process.execArgv.some((arg) => arg.includes('tsx'))) return;
  try {
    const api = (await import('tsx/esm/api')) as { register(): unknown };
    api.register();
    registered = true;
  } catch (error) {
    throw new SetupError('Loading a TypeScript module needs tsx: `npm install --save-dev tsx`, or point the CLI at the compiled .js file.', { cause: error });
  }
}
