/**
 * Middlewares are onions with FastStream's four hooks. A middleware is either an object
 * (shared by every message) or a factory called once per message or publish, like
 * FastStream's `BaseMiddleware(msg, context=...)`.
 */
import { RedstreamError, ErrorCode } from './errors.js';
import type { Message } from './message.js';

/** What a publish looks like while it passes through `publishScope`. */
export interface PublishCommand {
  /** `publish`, `request`, or `reply` (an answer to `reply_to`). */
  readonly type: 'publish' | 'request' | 'reply';
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

/** FastStream's middleware hooks; implement any subset. */
export interface Middleware {
  /** Called first, before the body is decoded. */
  onReceive?(message: Message): void | Promise<void>;
  /** Wraps the handler call; `next` runs the rest of the chain and the handler. */
  consumeScope?(next: (message: Message) => Promise<unknown>, message: Message): Promise<unknown>;
  /** Wraps a publish (broker, publisher object, reply); `next` sends it. */
  publishScope?(next: (command: PublishCommand) => Promise<unknown>, command: PublishCommand): Promise<unknown>;
  /** Called last with the handler's error, if any. Return `true` to mark the error handled. */
  afterProcessed?(error: unknown, message: Message): void | boolean | Promise<void | boolean>;
}

/** Passed to middleware factories. */
export interface MiddlewareContext {
  /** The message being consumed; undefined for a publish outside a handler. */
  readonly message: Message | undefined;
}

export type MiddlewareFactory = (context: MiddlewareContext) => Middleware;
export type MiddlewareLike = Middleware | MiddlewareFactory;

/** Turns factories into instances for one message or publish. */
export function instantiate(middlewares: readonly MiddlewareLike[], message: Message | undefined): Middleware[] {
  if (middlewares.length === 0) return [];
  return middlewares.map((m) => (typeof m === 'function' ? m({ message }) : m));
}

type Scope<T, R> = (next: (value: T) => Promise<R>, value: T) => Promise<R>;

/**
 * Composes scopes so the first is outermost. Calling `next()` twice from one scope throws,
 * since it would run the handler (or publish) twice.
 */
export function compose<T, R>(scopes: ReadonlyArray<Scope<T, R>>, last: (value: T) => Promise<R>): (value: T) => Promise<R> {
  if (scopes.length === 0) return last;
  return (value: T) => {
    const dispatch = (index: number, current: T): Promise<R> => {
      const scope = scopes[index];
      if (!scope) return last(current);
      let called = false;
      return scope((next: T) => {
        if (called) {
          return Promise.reject(new RedstreamError(ErrorCode.MIDDLEWARE, 'next() called more than once in one middleware scope.'));
        }
        called = true;
        return dispatch(index + 1, next);
      }, current);
    };
    return dispatch(0, value);
  };
}

/** The consume scopes of instantiated middlewares, bound to them. */
export function consumeScopes(middlewares: readonly Middleware[]): Array<Scope<Message, unknown>> {
  const scopes: Array<Scope<Message, unknown>> = [];
  for (const m of middlewares) if (m.consumeScope) scopes.push(m.consumeScope.bind(m));
  return scopes;
}

/** The publish scopes of instantiated middlewares, bound to them. */
export function publishScopes(middlewares: readonly Middleware[]): Array<Scope<PublishCommand, unknown>> {
  const scopes: Array<Scope<PublishCommand, unknown>> = [];
  for (const m of middlewares) if (m.publishScope) scopes.push(m.publishScope.bind(m));
  return scopes;
}
