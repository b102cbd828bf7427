/**
 * The subscriber call pipeline: decode → validate → middlewares → handler → reply/publish → ack.
 * Transport-agnostic: a transport builds the {@link Message} (with its settler) and calls
 * {@link consume}; the pipeline never throws.
 */
import { AckPolicy } from './ack.js';
import { decodeBody } from './codec/body.js';
import { AckMessage, ControlFlowError, DecodeError, NackMessage, rejectWith, RejectMessage, SkipMessage, StopConsume, ValidationError } from './errors.js';
import type { Context } from './context.js';
import { silentLogger, type Logger } from './logger.js';
import { AckStatus, SETTLED, type Message } from './message.js';
import { acceptsPlainNext, allInert, consumeScopes, instantiate, isThenable, runScopes, type Middleware, type MiddlewareLike, type Settlement, type SubscriberInfo } from './middleware.js';
import { toResponse, type Response } from './response.js';
import { validate, type StandardSchemaV1 } from './schema.js';

/** A handler: the decoded body first, the whole message second. */
export type Handler<Body = unknown, Result = unknown> = (body: Body, message: Message<Body>) => Result | Promise<Result>;

/**
 * A handler for a subscriber without a schema: the body is `unknown` (an array for batches)
 * unless the handler annotates it, e.g. `(line: string, msg) => …`. Nothing checks such an
 * annotation at run time; give a schema for that.
 */
export type UncheckedHandler<Body = unknown> = {
  // Method syntax makes the parameter bivariant, so an annotated body type is accepted.
  handle(body: Body, message: Message<Body>): unknown;
}['handle'];

/** Everything the pipeline needs to run one subscriber's handler. */
export interface ConsumerConfig {
  /** Shown in logs, e.g. the stream name. */
  readonly name: string;
  /** What the subscriber was registered as; middlewares see it. */
  readonly subscriber: SubscriberInfo;
  /** What its messages carry as `msg.context`. */
  readonly context?: Context;
  readonly handler: Handler;
  readonly schema: StandardSchemaV1 | undefined;
  /** Outermost first: broker → router → subscriber. */
  readonly middlewares: readonly MiddlewareLike[];
  readonly ackPolicy: AckPolicy;
  readonly logger: Logger;
  /** Sends the handler's result to `reply_to` and to the subscriber's publishers. */
  readonly emit: (response: Response, message: Message, middlewares: readonly Middleware[]) => Promise<void>;
  /** Stops the subscriber: its handler threw StopConsume. */
  readonly stopConsume?: () => void;
}

/** What happened to one message, for callers that care (tests, metrics). */
export interface ConsumeOutcome {
  /** The handler's (or pipeline's) error, if it failed and no middleware handled it. */
  readonly error: unknown;
  /** The handler's return value when it succeeded. */
  readonly result: unknown;
  /**
   * Settles when the acknowledgement the ack policy decided reached Redis. It was decided after
   * the handler finished; the caller may start the next message meanwhile. Messages acknowledged
   * together may share this promise. It rejects only when an automatic acknowledgement could not
   * be sent (the entry stays pending, so it is redelivered); the caller reports that.
   */
  readonly settled: Promise<void>;
}

const NO_MIDDLEWARES: readonly Middleware[] = Object.freeze([]);

/**
 * Runs one message through the pipeline and settles it per the ack policy. Completes once the
 * handler (and its replies) finished; the settlement itself is `settled`. Never throws.
 *
 * Without middlewares, schema or ACK_FIRST, a handler that returns a plain value (not a promise)
 * with nothing to send completes synchronously: no promise is made for such a message.
 */
export function consume(config: ConsumerConfig, message: Message): ConsumeOutcome | Promise<ConsumeOutcome> {
  if ((config.middlewares.length > 0 && !allInert(config.middlewares)) || config.schema !== undefined || config.ackPolicy === AckPolicy.ACK_FIRST) {
    return consumeThroughMiddlewares(config, message);
  }
  let result: unknown;
  try {
    if (config.logger !== silentLogger) config.logger.info(messageContext(config, message), 'Received');
    reportCorruption(config, message);
    const body = decode(message);
    message.body = body;
    result = config.handler(body, message);
  } catch (error) {
    return outcome(config, message, error, undefined);
  }
  if (isThenable(result)) {
    return Promise.resolve(result).then(
      (value) => reply(config, message, value),
      (error: unknown) => outcome(config, message, error, undefined),
    );
  }
  return reply(config, message, result);
}

/** Sends a handler's result to `reply_to` and the publishers, then settles. */
function reply(config: ConsumerConfig, message: Message, result: unknown): ConsumeOutcome | Promise<ConsumeOutcome> {
  if (result === undefined) return outcome(config, message, undefined, undefined);
  let sent: Promise<void>;
  try {
    sent = config.emit(toResponse(result), message, NO_MIDDLEWARES);
  } catch (error) {
    return outcome(config, message, error, result);
  }
  return sent.then(
    () => outcome(config, message, undefined, result),
    (error: unknown) => outcome(config, message, error, result),
  );
}

function outcome(config: ConsumerConfig, message: Message, error: unknown, result: unknown): ConsumeOutcome {
  if (config.logger !== silentLogger) config.logger.info(messageContext(config, message), 'Processed');
  return { error: error instanceof ControlFlowError ? undefined : error, result, settled: settle(config, message, error) };
}

/**
 * The whole pipeline, with middlewares' hooks and scopes and schema validation. It runs without a
 * promise for as long as everything in it answers synchronously: hooks that return nothing, scopes
 * that accept a plain value from `next` (see {@link acceptsPlainNext}), a handler that returns a
 * plain value. The first promise anything returns makes the rest wait for it.
 */
function consumeThroughMiddlewares(config: ConsumerConfig, message: Message): ConsumeOutcome | Promise<ConsumeOutcome> {
  const middlewares = instantiate(config.middlewares, message, config.subscriber);
  // Only afterSettled reports how long processing took.
  const started = hooksOf(middlewares).afterSettled ? performance.now() : 0;
  const run: Run = { config, message, middlewares, started, result: undefined };
  let work: unknown;
  try {
    if (config.logger !== silentLogger) config.logger.info(messageContext(config, message), 'Received');
    reportCorruption(config, message);
    const received = receive(middlewares, message, 0);
    work = received ? received.then(() => runHandler(run)) : runHandler(run);
  } catch (caught) {
    return afterHandler(run, caught);
  }
  if (isThenable(work)) {
    return Promise.resolve(work).then(
      () => afterHandler(run, undefined),
      (caught: unknown) => afterHandler(run, caught),
    );
  }
  return afterHandler(run, undefined);
}

/** One message on its way through the middleware pipeline. */
interface Run {
  readonly config: ConsumerConfig;
  readonly message: Message;
  readonly middlewares: readonly Middleware[];
  readonly started: number;
  /** The handler's result, once it returned. */
  result: unknown;
}

/** Runs the onReceive hooks from `from` on; a promise only once a hook returned one. */
function receive(middlewares: readonly Middleware[], message: Message, from: number): Promise<void> | undefined {
  for (let i = from; i < middlewares.length; i += 1) {
    const received = middlewares[i]!.onReceive?.(message);
    if (received) return Promise.resolve(received).then(() => receive(middlewares, message, i + 1));
  }
  return undefined;
}

/** ACK_FIRST, then the consume scopes around the handler and what it sends. */
function runHandler(run: Run): unknown {
  if (run.config.ackPolicy === AckPolicy.ACK_FIRST) return run.message.ack().then(() => scoped(run));
  return scoped(run);
}

/** Replies and publishers run inside the consume scopes, so a scope (a trace span) covers them. */
function scoped(run: Run): unknown {
  const scopes = consumeScopes(run.middlewares);
  return scopes.length === 0 ? handle(run, run.message) : runScopes(scopes, (message: Message) => handle(run, message), run.message, acceptsPlainNext);
}

/** Decodes, validates, calls the handler and sends what it returned. */
function handle(run: Run, message: Message): unknown {
  const value = invoke(run.config, message);
  return isThenable(value) ? Promise.resolve(value).then((resolved) => handled(run, message, resolved)) : handled(run, message, value);
}

function handled(run: Run, message: Message, value: unknown): unknown {
  run.result = value;
  return value === undefined ? undefined : run.config.emit(toResponse(value), message, run.middlewares).then(() => value);
}

/** After the handler: the afterProcessed hooks, the outcome, and the afterSettled report. */
function afterHandler(run: Run, error: unknown): ConsumeOutcome | Promise<ConsumeOutcome> {
  const { config, message, middlewares } = run;
  if (!hooksOf(middlewares).afterProcessed) return conclude(run, error);
  const failure = afterProcessed(middlewares, error, message, config, middlewares.length - 1);
  if (failure instanceof Later) return failure.promise.then((settledFailure: unknown) => conclude(run, settledFailure));
  return conclude(run, failure);
}

/** Which hooks a list of middlewares has, worked out once per list. */
const hookCache = new WeakMap<readonly Middleware[], { readonly afterProcessed: boolean; readonly afterSettled: boolean }>();
function hooksOf(middlewares: readonly Middleware[]): { readonly afterProcessed: boolean; readonly afterSettled: boolean } {
  let hooks = hookCache.get(middlewares);
  if (!hooks) {
    hooks = { afterProcessed: middlewares.some((m) => m.afterProcessed !== undefined), afterSettled: middlewares.some((m) => m.afterSettled !== undefined) };
    hookCache.set(middlewares, hooks);
  }
  return hooks;
}

/** What a hook chain hands back once one of its hooks returned a promise. */
class Later {
  readonly promise: Promise<unknown>;
  constructor(promise: Promise<unknown>) {
    this.promise = promise;
  }
}

function conclude(run: Run, failure: unknown): ConsumeOutcome {
  const done = outcome(run.config, run.message, failure, run.result);
  if (hooksOf(run.middlewares).afterSettled) reportSettlement(run.config, run.middlewares, run.message, done, run.started);
  return done;
}

/** Runs the afterSettled hooks, innermost first, once the settlement reached Redis (or failed). */
function reportSettlement(config: ConsumerConfig, middlewares: readonly Middleware[], message: Message, done: ConsumeOutcome, started: number): void {
  const processedAt = performance.now();
  const report = (settleError: unknown): Promise<void> | undefined => {
    const settledAs = settleError === undefined ? settledStatus(message) : 'failed';
    const failed = done.error !== undefined || settleError !== undefined;
    const settlement: Settlement = {
      status: failed ? 'error' : (settledAs as Exclude<Settlement['settledAs'], 'failed'>),
      settledAs,
      error: done.error ?? settleError,
      subscriber: config.subscriber,
      processMs: processedAt - started,
      settleMs: performance.now() - processedAt,
    };
    return afterSettled(config, middlewares, message, settlement, middlewares.length - 1);
  };
  done.settled.then(
    () => report(undefined),
    (failure: unknown) => report(failure ?? 'settlement failed'),
  );
}

/** The afterSettled hooks from index `from` down; a promise only once a hook returned one. */
function afterSettled(config: ConsumerConfig, middlewares: readonly Middleware[], message: Message, settlement: Settlement, from: number): Promise<void> | undefined {
  for (let i = from; i >= 0; i -= 1) {
    const middleware = middlewares[i];
    if (!middleware?.afterSettled) continue;
    let returned: void | Promise<void>;
    try {
      returned = middleware.afterSettled(settlement, message);
    } catch (hookError) {
      logHookFailure(config, message, 'afterSettled', hookError);
      continue;
    }
    if (returned) {
      return Promise.resolve(returned).then(
        () => afterSettled(config, middlewares, message, settlement, i - 1),
        (hookError: unknown) => {
          logHookFailure(config, message, 'afterSettled', hookError);
          return afterSettled(config, middlewares, message, settlement, i - 1);
        },
      );
    }
  }
  return undefined;
}

function logHookFailure(config: ConsumerConfig, message: Message, hook: string, hookError: unknown): void {
  config.logger.error({ ...messageContext(config, message), err: hookError }, `${hook} middleware hook failed`);
}

function settledStatus(message: Message): Exclude<Settlement['settledAs'], 'failed' | 'error'> {
  if (message.deadLettered) return 'dead-lettered';
  switch (message.status) {
    case undefined:
      return 'skipped';
    case AckStatus.ACKED:
      return 'acked';
    case AckStatus.NACKED:
      return 'nacked';
    case AckStatus.REJECTED:
      return 'rejected';
  }
}


/** Decodes, validates and calls the handler; a promise only when validation or the handler makes one. */
function invoke(config: ConsumerConfig, message: Message): unknown {
  const body = decode(message);
  if (config.schema) {
    return validateBody(config, message, body).then((valid) => {
      message.body = valid;
      return config.handler(valid, message);
    });
  }
  message.body = body;
  return config.handler(body, message);
}

function decode(message: Message): unknown {
  if (Array.isArray(message.rawBody)) {
    return message.items.map((item) => decodeBody(item.payload, item.contentType));
  }
  return decodeBody(message.rawBody as Buffer, message.contentType);
}

function validateBody(config: ConsumerConfig, message: Message, body: unknown): Promise<unknown> {
  const schema = config.schema as StandardSchemaV1;
  const where = `subscriber "${config.name}"`;
  if (Array.isArray(message.rawBody)) {
    return Promise.all((body as unknown[]).map((item) => validate(schema, item, where)));
  }
  return validate(schema, body, where);
}

function reportCorruption(config: ConsumerConfig, message: Message): void {
  for (const item of message.items) {
    if (item.corruption !== undefined) {
      config.logger.warn(
        { ...messageContext(config, message), reason: item.corruption },
        `Message looked like a FastStream envelope but could not be read (${item.corruption}); delivering its raw bytes.`,
      );
    }
  }
}

/**
 * The afterProcessed hooks from index `from` down, each seeing the error the ones inside left; a
 * hook returning `true` marks it handled. The error left, or {@link Later} once a hook returned a promise.
 */
function afterProcessed(middlewares: readonly Middleware[], error: unknown, message: Message, config: ConsumerConfig, from: number): unknown {
  let current = error;
  for (let i = from; i >= 0; i -= 1) {
    const middleware = middlewares[i];
    if (!middleware?.afterProcessed) continue;
    let returned: void | boolean | Promise<void | boolean>;
    try {
      returned = middleware.afterProcessed(current, message);
    } catch (hookError) {
      logHookFailure(config, message, 'afterProcessed', hookError);
      continue;
    }
    if (isThenable(returned)) {
      const failure = current;
      const rest = (left: unknown): unknown => {
        const next = afterProcessed(middlewares, left, message, config, i - 1);
        return next instanceof Later ? next.promise : next;
      };
      return new Later(
        Promise.resolve(returned).then(
          (handled) => rest(handled === true ? undefined : failure),
          (hookError: unknown) => {
            logHookFailure(config, message, 'afterProcessed', hookError);
            return rest(failure);
          },
        ),
      );
    }
    if (returned === true) current = undefined;
  }
  return current;
}

/**
 * Applies the ack policy, after a handler's explicit call (which always wins). The success path
 * hands back the acknowledgement's own promise, so acks sent together are awaited together.
 */
function settle(config: ConsumerConfig, message: Message, error: unknown): Promise<void> {
  if (error !== undefined) {
    const settled = settleFailure(config, message, error);
    // Whoever runs the pipeline reports a failed settlement; nothing may go unhandled meanwhile.
    settled.catch(() => undefined);
    return settled;
  }
  // A handler's own call wins; its round trip is the settlement.
  const explicit = message.settling;
  if (explicit) return explicit;
  if (config.ackPolicy === AckPolicy.MANUAL) return SETTLED;
  try {
    return message.ack();
  } catch (ackError) {
    return rejectWith(ackError);
  }
}

/**
 * Settles a failed message per the ack policy (or the control-flow error). Rejects when the
 * settlement could not be sent: the entry then stays pending and is redelivered.
 */
async function settleFailure(config: ConsumerConfig, message: Message, error: unknown): Promise<void> {
  const context = messageContext(config, message);
  if (error instanceof ControlFlowError) {
    config.logger.info(context, `${error.name}: ${error.message}`);
  } else {
    logFailure(config, context, error);
  }
  if (message.settling) return message.settling;
  if (error instanceof ControlFlowError) {
    if (error instanceof StopConsume) config.stopConsume?.();
    if (config.ackPolicy === AckPolicy.ACK_FIRST || error instanceof SkipMessage) return;
    // The message that said stop was handled: it is acknowledged.
    if (error instanceof StopConsume) await message.ack();
    if (error instanceof AckMessage) await message.ack();
    else if (error instanceof NackMessage) await message.nack(error.cause);
    else if (error instanceof RejectMessage) await message.reject(error.cause);
    return;
  }
  if (config.ackPolicy === AckPolicy.ACK) await message.ack();
  // A message that can never be handled (undecodable, not fitting its schema) would fail the same
  // way on every delivery: it is rejected (dead-lettered where configured), never redelivered.
  else if (error instanceof DecodeError || error instanceof ValidationError) await message.reject(error);
  else if (config.ackPolicy === AckPolicy.NACK_ON_ERROR) await message.nack(error);
  else if (config.ackPolicy === AckPolicy.REJECT_ON_ERROR) await message.reject(error);
}

/**
 * One line per failed message. A message that does not fit its schema logs the schema's issues as
 * structured context (no stack: it is the data, not the code); the stack is at debug level.
 */
function logFailure(config: ConsumerConfig, context: Record<string, unknown>, error: unknown): void {
  if (error instanceof ValidationError) {
    config.logger.error({ ...context, issues: error.issues }, `${error.name}: ${error.message}`);
    config.logger.debug({ ...context, err: error }, 'validation failure, with its stack');
    return;
  }
  config.logger.error({ ...context, err: error }, `${errorName(error)}: ${errorText(error)}`);
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** What every log line about a message carries: subscriber, destination, message and correlation ids. */
function messageContext(config: ConsumerConfig, message: Message): Record<string, unknown> {
  return { subscriber: config.name, destination: message.source.name, messageId: message.messageId, correlationId: message.correlationId };
}
