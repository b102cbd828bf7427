/**
 * Middlewares are onions with FastStream's four hooks. A middleware is either an object
 * (shared by every message) or a factory called once per message or publish, like
 * FastStream's `BaseMiddleware(msg, context=...)`.
 */
import { RedstreamError, ErrorCode, rejectWith } from './errors.js';
import type { Message, SubscriberInfo } from './message.js';

export type { SubscriberInfo } from './message.js';

/** What a publish looks like while it passes through `publishScope`. */
export interface PublishCommand {
  /**
   * `publish`, `request`, `reply` (an answer to `reply_to`) or `dead-letter` (an entry moved to its
   * dead-letter stream: `body` is the original payload's bytes, `headers` the original headers plus
   * the `x-dead-letter-*` ones).
   */
  readonly type: 'publish' | 'request' | 'reply' | 'dead-letter';
  /** The destination name (channel, list or stream). */
  readonly destination: string;
  readonly destinationType: 'channel' | 'list' | 'stream';
  /** The body, or every body for a batch publish. */
  body: unknown;
  readonly batch: boolean;
  headers: Record<string, string>;
  correlationId: string;
  replyTo: string;
}


/** How a message ended, as {@link Middleware.afterSettled} sees it. */
export const SettleStatus = {
  /** Acknowledged (a stream entry was XACKed; a channel or list message was processed). */
  ACKED: 'acked',
  /** Left for redelivery (a stream entry stays pending). */
  NACKED: 'nacked',
  /** Never to be redelivered, and dropped (no dead-letter stream). */
  REJECTED: 'rejected',
  /** Moved to the dead-letter stream (rejected, or past `maxDeliveries`). */
  DEAD_LETTERED: 'dead-lettered',
  /** Left as it was: `SkipMessage`, or a `manual` ack policy whose handler did not settle it. */
  SKIPPED: 'skipped',
  /** The handler (or decoding, validation, a middleware) failed; `settledAs` says what the ack policy then did. */
  ERROR: 'error',
} as const;
/** One of the {@link SettleStatus} values. */
export type SettleStatus = (typeof SettleStatus)[keyof typeof SettleStatus];

/** What became of one message, once its settlement reached Redis. */
export interface Settlement {
  /** `error` when processing failed (whatever the ack policy did then); otherwise how it was settled. */
  readonly status: SettleStatus;
  /**
   * What was done to the message: `acked`, `nacked`, `rejected`, `dead-lettered` or `skipped`, or
   * `failed` when the settlement could not be sent (a stream entry then stays pending).
   */
  readonly settledAs: Exclude<SettleStatus, 'error'> | 'failed';
  /** The processing error behind status `error`, else the settlement's error behind `failed`. */
  readonly error: unknown;
  readonly subscriber: SubscriberInfo;
  /** Milliseconds from receipt to the end of processing (decode, validation, middlewares, handler, replies). */
  readonly processMs: number;
  /** Milliseconds the settlement took, from the end of processing to Redis's reply. */
  readonly settleMs: number;
}

/** FastStream's middleware hooks, and {@link Middleware.afterSettled}; implement any subset. */
export interface Middleware {
  /** Called first, before the body is decoded. */
  onReceive?(message: Message): void | Promise<void>;
  /** Wraps the handler call; `next` runs the rest of the chain and the handler. */
  consumeScope?(next: (message: Message) => Promise<unknown>, message: Message): Promise<unknown>;
  /** Wraps a publish (broker, publisher object, reply); `next` sends it. */
  publishScope?(next: (command: PublishCommand) => Promise<unknown>, command: PublishCommand): Promise<unknown>;
  /** Called last with the handler's error, if any. Return `true` to mark the error handled. */
  afterProcessed?(error: unknown, message: Message): void | boolean | Promise<void | boolean>;
  /**
   * Called once the message is settled (its acknowledgement, nack or dead letter reached Redis),
   * with how it ended and how long each part took. Errors it throws are logged.
   */
  afterSettled?(settlement: Settlement, message: Message): void | Promise<void>;
}

/** Passed to middleware factories. */
export interface MiddlewareContext {
  /** The message being consumed; undefined for a publish outside a handler. */
  readonly message: Message | undefined;
  /** The subscriber consuming it; undefined for a publish outside a handler. */
  readonly subscriber: SubscriberInfo | undefined;
}

/** Makes a fresh middleware for each message consumed or publish made. */
export type MiddlewareFactory = (context: MiddlewareContext) => Middleware;
/** A middleware shared by every message, or a factory that makes one per message or publish. */
export type MiddlewareLike = Middleware | MiddlewareFactory;

const perMessage = new WeakMap<Message, readonly Middleware[]>();
/** Middleware lists made only of objects: they are their own instances, for every message. */
const staticLists = new WeakSet<readonly MiddlewareLike[]>();

/**
 * The middlewares a message being consumed runs with (what it publishes, its replies and its
 * dead letter go through their publishScopes): the instances made for it when its chain has
 * factories, else `chain` itself.
 */
export function middlewaresOf(message: Message, chain: readonly MiddlewareLike[]): readonly Middleware[] {
  return perMessage.get(message) ?? (isStatic(chain) ? (chain as readonly Middleware[]) : instantiate(chain, message, message.subscriber));
}

/** Whether the list holds no factory (then instantiating it changes nothing). */
export function isStatic(middlewares: readonly MiddlewareLike[]): boolean {
  if (staticLists.has(middlewares)) return true;
  if (middlewares.some((m) => typeof m === 'function')) return false;
  staticLists.add(middlewares);
  return true;
}

/**
 * Turns factories into instances for one message or publish. A list without factories is
 * returned as it is: its objects serve every message.
 */
export function instantiate(middlewares: readonly MiddlewareLike[], message: Message | undefined, subscriber?: SubscriberInfo): readonly Middleware[] {
  if (isStatic(middlewares)) return middlewares as readonly Middleware[];
  const context: MiddlewareContext = { message, subscriber };
  const instances = middlewares.map((m) => (typeof m === 'function' ? m(context) : m));
  if (message) perMessage.set(message, instances);
  return instances;
}

type Scope<T, R> = (next: (value: T) => Promise<R>, value: T) => Promise<R>;
/** A bound scope of one kind (consume or publish). */
export type ScopeOf<T> = Scope<T, unknown>;

/** Middlewares whose consumeScope takes whatever `next` returns (see {@link allowPlainNext}). */
const plainNextMiddlewares = new WeakSet<object>();
/** Their bound consume scopes. */
const plainNextScopes = new WeakSet<object>();

/**
 * Marks a middleware whose `consumeScope` copes with `next` returning a plain value or throwing
 * (not only a promise), and may itself return a plain value: the pipeline then stays synchronous
 * through it while the handler is. For redstream's own middlewares.
 * @internal
 */
export function allowPlainNext(middleware: Middleware): void {
  plainNextMiddlewares.add(middleware);
}

/** Middlewares that may have nothing to do for a while, and the check that says so. */
const inertChecks = new WeakMap<object, () => boolean>();

/**
 * Marks a middleware that, while `inert()` holds, does nothing a message or publish could tell
 * (no record, no header, no change): a pipeline whose middlewares are all inert runs as if it had
 * none. `inert()` is asked per message and publish, so it must be cheap. For redstream's own
 * middlewares.
 * @internal
 */
export function skipWhileInert(middleware: Middleware, inert: () => boolean): void {
  inertChecks.set(middleware, inert);
}

/** Whether every middleware of a non-empty list is inert now (see {@link skipWhileInert}). @internal */
export function allInert(middlewares: readonly MiddlewareLike[]): boolean {
  if (middlewares.length === 0) return false;
  for (const middleware of middlewares) {
    const inert = inertChecks.get(middleware);
    if (!inert?.()) return false;
  }
  return true;
}

/** Whether a bound consume scope was marked with {@link allowPlainNext}. @internal */
export function acceptsPlainNext(scope: ScopeOf<Message>): boolean {
  return plainNextScopes.has(scope);
}

/**
 * Composes scopes so the first is outermost. Calling `next()` twice from one scope throws,
 * since it would run the handler (or publish) twice.
 */
export function compose<T, R>(scopes: ReadonlyArray<Scope<T, R>>, last: (value: T) => Promise<R>): (value: T) => Promise<R> {
  if (scopes.length === 0) return last;
  return (value: T) => runScopes(scopes, last, value) as Promise<R>;
}

/**
 * Runs scope `index` around `value` and, through its `next`, the scopes inside it and `last`. A
 * scope for which `plain` holds gets what the rest returns as it is (a plain value, a promise, or
 * a throw); any other gets a promise, as the Middleware contract says, with a synchronous throw
 * (a handler's, a scope's) turned into a rejection the scopes around it see.
 */
export function runScopes<T, R>(
  scopes: ReadonlyArray<Scope<T, R>>,
  last: (value: T) => unknown,
  value: T,
  plain: (scope: Scope<T, R>) => boolean = () => false,
  index = 0,
): unknown {
  const scope = scopes[index];
  if (!scope) return last(value);
  const direct = plain(scope);
  let called = false;
  const next = (current: T): unknown => {
    if (called) return Promise.reject(new RedstreamError(ErrorCode.MIDDLEWARE, 'next() called more than once in one middleware scope.'));
    called = true;
    if (direct) return runScopes(scopes, last, current, plain, index + 1);
    try {
      return Promise.resolve(runScopes(scopes, last, current, plain, index + 1));
    } catch (error) {
      return rejectWith(error);
    }
  };
  if (direct) return scope(next as (current: T) => Promise<R>, value);
  try {
    return scope(next as (current: T) => Promise<R>, value);
  } catch (error) {
    return rejectWith(error);
  }
}

/** Whether a value is a promise or promise-like (has a `then` method). */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value instanceof Promise || (typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function');
}

const consumeCache = new WeakMap<readonly Middleware[], ReadonlyArray<Scope<Message, unknown>>>();
const publishCache = new WeakMap<readonly Middleware[], ReadonlyArray<Scope<PublishCommand, unknown>>>();

/** The consume scopes of instantiated middlewares, bound to them (once per list). */
export function consumeScopes(middlewares: readonly Middleware[]): ReadonlyArray<Scope<Message, unknown>> {
  let scopes = consumeCache.get(middlewares);
  if (!scopes) {
    scopes = middlewares
      .filter((m) => m.consumeScope !== undefined)
      .map((m) => {
        const scope = m.consumeScope!.bind(m);
        if (plainNextMiddlewares.has(m)) plainNextScopes.add(scope);
        return scope;
      });
    consumeCache.set(middlewares, scopes);
  }
  return scopes;
}

/** The publish scopes of instantiated middlewares, bound to them (once per list). */
export function publishScopes(middlewares: readonly Middleware[]): ReadonlyArray<Scope<PublishCommand, unknown>> {
  let scopes = publishCache.get(middlewares);
  if (!scopes) {
    scopes = middlewares.filter((m) => m.publishScope !== undefined).map((m) => m.publishScope!.bind(m));
    publishCache.set(middlewares, scopes);
  }
  return scopes;
}
