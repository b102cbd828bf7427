/**
 * One error root for everything redstream throws. Every error has a stable `code`
 * that callers can switch on, and keeps the underlying error as ES2022 `cause`.
 */

/** Stable error codes. Never renamed once released. */
export const ErrorCode = {
  OPTION: 'ERR_REDSTREAM_OPTION',
  SETUP: 'ERR_REDSTREAM_SETUP',
  NOT_CONNECTED: 'ERR_REDSTREAM_NOT_CONNECTED',
  CLOSED: 'ERR_REDSTREAM_CLOSED',
  CODEC: 'ERR_REDSTREAM_CODEC',
  DECODE: 'ERR_REDSTREAM_DECODE',
  VALIDATION: 'ERR_REDSTREAM_VALIDATION',
  REQUEST_TIMEOUT: 'ERR_REDSTREAM_REQUEST_TIMEOUT',
  /** A wait with a timeout (e.g. a test spy's `waitCall()`) ran out of time. */
  TIMEOUT: 'ERR_REDSTREAM_TIMEOUT',
  PUBLISH: 'ERR_REDSTREAM_PUBLISH',
  GROUP_NOT_FOUND: 'ERR_REDSTREAM_GROUP_NOT_FOUND',
  MIDDLEWARE: 'ERR_REDSTREAM_MIDDLEWARE',
  ACK: 'ERR_REDSTREAM_ACK',
  NACK: 'ERR_REDSTREAM_NACK',
  REJECT: 'ERR_REDSTREAM_REJECT',
  SKIP: 'ERR_REDSTREAM_SKIP',
  STOP_CONSUME: 'ERR_REDSTREAM_STOP_CONSUME',
} as const;

/** One of the {@link ErrorCode} values. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Root of every error redstream throws. */
export class RedstreamError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Wrong configuration: the broker, a subscriber or a publisher cannot be set up as asked. */
export class SetupError extends RedstreamError {
  constructor(message: string, options?: { cause?: unknown }, code: ErrorCode = ErrorCode.SETUP) {
    super(code, message, options);
  }
}

/** One option has a value that cannot work. `option` names it, `value` is what was given. */
export class OptionError extends SetupError {
  readonly option: string;
  readonly value: unknown;

  constructor(option: string, value: unknown, expected: string) {
    super(`Expected \`${option}\` to be ${expected}, got ${describe(value)}.`, undefined, ErrorCode.OPTION);
    this.option = option;
    this.value = value;
  }
}

/** A publish or request was made while the broker cannot reach Redis. */
export class NotConnectedError extends RedstreamError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.NOT_CONNECTED, message, options);
  }
}

/** The broker was closed; create a new one to reconnect. */
export class BrokerClosedError extends RedstreamError {
  constructor(what: string) {
    super(ErrorCode.CLOSED, `Cannot ${what}: the broker is closed. Create a new broker instead.`);
  }
}

/** A value cannot be encoded to the wire (e.g. a BigInt body or a non-string header). */
export class EncodeError extends RedstreamError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.CODEC, message, options);
  }
}

/** A payload cannot be decoded as its content-type says (e.g. broken JSON). */
export class DecodeError extends RedstreamError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.DECODE, message, options);
  }
}

/** One problem a schema reported. Structurally compatible with Standard Schema issues. */
export interface ValidationIssue {
  readonly message: string;
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
}

/** The body did not match the subscriber's schema. `issues` are the schema's own. */
export class ValidationError extends RedstreamError {
  readonly issues: readonly ValidationIssue[];

  constructor(where: string, issues: readonly ValidationIssue[]) {
    super(ErrorCode.VALIDATION, `Message body failed validation for ${where}: ${formatIssues(issues)}`);
    this.issues = issues;
  }
}

/** `broker.request()` got no reply in time. */
export class RequestTimeoutError extends RedstreamError {
  readonly timeout: number;
  readonly correlationId: string;

  constructor(destination: string, timeout: number, correlationId: string) {
    super(
      ErrorCode.REQUEST_TIMEOUT,
      `No reply from ${destination} within ${timeout} ms (correlation_id ${correlationId}). ` +
        'Check that a subscriber is running there, or raise `timeout`.',
    );
    this.timeout = timeout;
    this.correlationId = correlationId;
  }
}

/** The consumer group of a stream subscriber disappeared (NOGROUP) and could not be recreated. */
export class GroupNotFoundError extends RedstreamError {
  constructor(stream: string, group: string, options?: { cause?: unknown }) {
    super(
      ErrorCode.GROUP_NOT_FOUND,
      `Consumer group "${group}" of stream "${stream}" no longer exists. ` +
        'Enable `declare` on the StreamSub to recreate it, or create it with XGROUP CREATE.',
      options,
    );
  }
}

/**
 * Control flow: thrown by a handler (or middleware) to settle the message explicitly.
 * They are logged at info level, never as errors.
 */
export class ControlFlowError extends RedstreamError {}

/** Acknowledge the message and stop processing it. */
export class AckMessage extends ControlFlowError {
  constructor(options?: { cause?: unknown }) {
    super(ErrorCode.ACK, 'Message acknowledged by the handler.', options);
  }
}

/** Leave the message for redelivery and stop processing it. */
export class NackMessage extends ControlFlowError {
  constructor(options?: { cause?: unknown }) {
    super(ErrorCode.NACK, 'Message negatively acknowledged by the handler; it will be redelivered.', options);
  }
}

/** Never redeliver the message (dead-letter it where configured) and stop processing it. */
export class RejectMessage extends ControlFlowError {
  constructor(options?: { cause?: unknown }) {
    super(ErrorCode.REJECT, 'Message rejected by the handler.', options);
  }
}

/** Stop processing without settling the message and without a reply. */
export class SkipMessage extends ControlFlowError {
  constructor(options?: { cause?: unknown }) {
    super(ErrorCode.SKIP, 'Message skipped by the handler.', options);
  }
}

/**
 * Stop the subscriber whose handler throws it (the others go on); the message is acknowledged.
 * Start it again with `await subscriber.start()`.
 */
export class StopConsume extends ControlFlowError {
  constructor(options?: { cause?: unknown }) {
    super(ErrorCode.STOP_CONSUME, 'The handler asked its subscriber to stop consuming.', options);
  }
}

function formatIssues(issues: readonly ValidationIssue[]): string {
  return issues
    .map((issue) => {
      const path = issue.path?.map((p) => String(typeof p === 'object' ? p.key : p)).join('.');
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
}

/** Renders a value for an error message, short and unambiguous. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || typeof value !== 'object') return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  const name = value.constructor?.name;
  return name && name !== 'Object' ? `a ${name}` : 'an object';
}

/**
 * A promise rejected with exactly what was thrown, for functions that return a promise without
 * being `async` (so their fast path makes no extra promise) and must not throw synchronously.
 */
export function rejectWith(thrown: unknown): Promise<never> {
  return Promise.resolve().then(() => {
    throw thrown;
  });
}
