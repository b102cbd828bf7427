/**
 * `redstream/opentelemetry`: traces and metrics for publishing and processing, with FastStream's
 * span names and attributes, and the W3C trace context carried in the message headers (so a trace
 * runs through FastStream services and back). Needs `@opentelemetry/api` (an optional peer
 * dependency); the SDK, exporters and context manager are the application's choice.
 * @packageDocumentation
 */
import {
  context,
  createNoopMeter,
  INVALID_SPAN_CONTEXT,
  isSpanContextValid,
  metrics,
  propagation,
  ProxyTracerProvider,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Counter,
  type Histogram,
  type MeterProvider,
  type Span,
  type TextMapGetter,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import { ControlFlowError } from '../core/errors.js';
import type { Message } from '../core/message.js';
import { allowPlainNext, isThenable, skipWhileInert, type Middleware, type PublishCommand } from '../core/middleware.js';

/** Options of {@link RedisTelemetryMiddleware}. */
export interface RedisTelemetryOptions {
  /** Where spans go. @defaultValue the global tracer provider (`trace.getTracerProvider()`) */
  readonly tracerProvider?: TracerProvider;
  /** Where metrics go. @defaultValue the global meter provider (`metrics.getMeterProvider()`) */
  readonly meterProvider?: MeterProvider;
  /** Count messages (`messaging.publish.messages`, `messaging.process.messages`) besides timing them. @defaultValue `true` */
  readonly includeMessagesCounters?: boolean;
}

/** Attribute names, as FastStream sets them. */
export const MessagingAttribute = {
  SYSTEM: 'messaging.system',
  OPERATION: 'messaging.operation',
  MESSAGE_ID: 'messaging.message.id',
  CONVERSATION_ID: 'messaging.message.conversation_id',
  PAYLOAD_SIZE: 'messaging.message.payload_size_bytes',
  DESTINATION: 'messaging.destination.name',
  DESTINATION_PUBLISH: 'messaging.destination_publish.name',
  BATCH_COUNT: 'messaging.batch.message_count',
  ERROR_TYPE: 'error.type',
} as const;

const SCOPE = 'redstream';
/** What a global tracer provider delegates to until an SDK registers one (the API's no-op provider). */
const NO_SDK = new ProxyTracerProvider().getDelegate();
/** Destinations whose metric attributes are kept, made once (beyond that, made per use). */
const MAX_CACHED_DESTINATIONS = 1000;

/**
 * Spans `"<destination> publish"` (PRODUCER) around every publish, request, reply and dead letter,
 * and `"<subscriber> process"` (CONSUMER) around every handler, a child of the publisher's span
 * whose context arrived in the message's `traceparent` / `tracestate` / `baggage` headers. A
 * handler that throws (not a control-flow `AckMessage`/`NackMessage`/…) marks its span ERROR
 * with the exception recorded. Metrics: `messaging.publish.duration`,
 * `messaging.process.duration` (seconds), `messaging.publish.messages`,
 * `messaging.process.messages`.
 *
 * Spans nest through the active context, so the application registers a context manager (the
 * Node SDK does); publishes made in a handler, and its reply, are then children of its span.
 *
 * @example
 * const broker = new RedisBroker(url, { middlewares: [new RedisTelemetryMiddleware({ tracerProvider })] });
 */
export class RedisTelemetryMiddleware implements Middleware {
  readonly #tracer: Tracer;
  readonly #publishDuration: Histogram;
  readonly #processDuration: Histogram;
  readonly #publishMessages: Counter | undefined;
  readonly #processMessages: Counter | undefined;
  readonly #attributes = new Map<string, Attributes>();
  /** Whether the meter records anything (the API's no-op meter, when no SDK was registered before, does not). */
  readonly #measured: boolean;

  constructor(options: RedisTelemetryOptions = {}) {
    const tracerProvider = options.tracerProvider ?? trace.getTracerProvider();
    this.#tracer = tracerProvider.getTracer(SCOPE);
    const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(SCOPE);
    // The API's meters stay what they were made as (there is no proxy as for tracers): one made
    // no-op records nothing for good, so nothing is timed for it.
    this.#measured = meter !== createNoopMeter();
    this.#publishDuration = meter.createHistogram('messaging.publish.duration', { unit: 's', description: 'How long publishing one message (or batch) took.' });
    this.#processDuration = meter.createHistogram('messaging.process.duration', { unit: 's', description: 'How long processing one message (or batch) took.' });
    if (options.includeMessagesCounters !== false) {
      this.#publishMessages = meter.createCounter('messaging.publish.messages', { unit: '{message}', description: 'Messages published.' });
      this.#processMessages = meter.createCounter('messaging.process.messages', { unit: '{message}', description: 'Messages processed.' });
    }
    allowPlainNext(this);
    // No SDK at all (the global tracer provider delegates to the no-op one, the meter is no-op and
    // the propagator has no fields): nothing to record or carry, so the pipeline runs as if this
    // middleware were not there. Asked per message: an SDK registered later is used at once.
    if (!this.#measured && tracerProvider instanceof ProxyTracerProvider) {
      skipWhileInert(this, () => tracerProvider.getDelegate() === NO_SDK && propagation.fields().length === 0);
    }
  }

  publishScope(next: (command: PublishCommand) => Promise<unknown>, command: PublishCommand): Promise<unknown> {
    const count = command.batch && Array.isArray(command.body) ? command.body.length : 1;
    const span = this.#tracer.startSpan(`${command.destination} publish`, { kind: SpanKind.PRODUCER });
    // Attributes cost only when something records them.
    if (span.isRecording()) {
      span.setAttributes({
        [MessagingAttribute.SYSTEM]: 'redis',
        [MessagingAttribute.OPERATION]: 'publish',
        [MessagingAttribute.DESTINATION]: command.destination,
        [MessagingAttribute.CONVERSATION_ID]: command.correlationId,
        ...(command.batch ? { [MessagingAttribute.BATCH_COUNT]: count } : {}),
      });
    }
    // The active context (baggage, say) is injected even when the span is not worth activating.
    const traced = worthActivating(span);
    const active = traced ? trace.setSpan(context.active(), span) : context.active();
    propagation.inject(active, command.headers);
    // Nothing records it: no span to end, no time to take.
    if (!traced && !this.#measured) return next(command);
    const started = performance.now();
    const finish = (failure: unknown): void => {
      this.#end(span, failure);
      const metricAttributes = this.#metricAttributes(command.destination, failure);
      this.#publishDuration.record((performance.now() - started) / 1000, metricAttributes);
      this.#publishMessages?.add(count, metricAttributes);
    };
    return ending(traced ? context.with(active, next, undefined, command) : next(command), finish);
  }

  consumeScope(next: (message: Message) => Promise<unknown>, message: Message): Promise<unknown> {
    const destination = message.subscriber?.name ?? message.source.name;
    const count = message.items.length;
    // The headers are read only if a propagator asks for them (the no-op one does not).
    const parent = propagation.extract(context.active(), message, HEADERS);
    const span = this.#tracer.startSpan(`${destination} process`, { kind: SpanKind.CONSUMER }, parent);
    if (span.isRecording()) {
      span.setAttributes({
        [MessagingAttribute.SYSTEM]: 'redis',
        [MessagingAttribute.OPERATION]: 'process',
        [MessagingAttribute.MESSAGE_ID]: message.messageId,
        [MessagingAttribute.CONVERSATION_ID]: message.correlationId,
        [MessagingAttribute.PAYLOAD_SIZE]: payloadSize(message),
        [MessagingAttribute.DESTINATION_PUBLISH]: message.source.name,
        ...(Array.isArray(message.rawBody) ? { [MessagingAttribute.BATCH_COUNT]: count } : {}),
      });
    }
    const traced = worthActivating(span);
    // Nothing records it: no span to end, no time to take.
    if (!traced && !this.#measured) return next(message);
    const started = performance.now();
    const finish = (failure: unknown): void => {
      this.#end(span, failure);
      const metricAttributes = this.#metricAttributes(destination, failure);
      this.#processDuration.record((performance.now() - started) / 1000, metricAttributes);
      this.#processMessages?.add(count, metricAttributes);
    };
    // The pipeline passes a `next` that may answer synchronously (allowPlainNext in the constructor).
    let work: unknown;
    try {
      work = traced ? context.with(trace.setSpan(parent, span), next, undefined, message) : (next as (message: Message) => unknown)(message);
    } catch (error) {
      finish(error);
      throw error;
    }
    if (!isThenable(work)) {
      finish(undefined);
      return work as Promise<unknown>;
    }
    return ending(Promise.resolve(work), finish);
  }

  /** Metric attributes of a destination, made once per destination while there are not too many. */
  #metricAttributes(destination: string, failure: unknown): Attributes {
    if (failure !== undefined && !(failure instanceof ControlFlowError)) {
      return { [MessagingAttribute.SYSTEM]: 'redis', [MessagingAttribute.DESTINATION]: destination, [MessagingAttribute.ERROR_TYPE]: errorType(failure) };
    }
    let attributes = this.#attributes.get(destination);
    if (!attributes) {
      attributes = { [MessagingAttribute.SYSTEM]: 'redis', [MessagingAttribute.DESTINATION]: destination };
      if (this.#attributes.size < MAX_CACHED_DESTINATIONS) this.#attributes.set(destination, attributes);
    }
    return attributes;
  }

  #end(span: Span, failure: unknown): void {
    // Control flow (AckMessage, NackMessage, RejectMessage, SkipMessage) is not a failure.
    if (failure !== undefined && !(failure instanceof ControlFlowError)) {
      const text = failure instanceof Error ? failure.message : describeFailure(failure);
      span.recordException(failure instanceof Error ? failure : text);
      span.setStatus({ code: SpanStatusCode.ERROR, message: text });
      span.setAttribute(MessagingAttribute.ERROR_TYPE, errorType(failure));
    }
    span.end();
  }
}

/** Calls `finish` with the failure (or undefined) once `work` settled, and passes its outcome on. */
function ending<T>(work: Promise<T>, finish: (failure: unknown) => void): Promise<T> {
  return work.then(
    (result) => {
      finish(undefined);
      return result;
    },
    (error: unknown) => {
      finish(error);
      throw error;
    },
  );
}

/**
 * Whether a span is worth making the active context: one that records nothing and carries no
 * trace (no SDK, no incoming traceparent) changes nothing for what runs inside it.
 */
function worthActivating(span: Span): boolean {
  if (span.isRecording()) return true;
  const spanContext = span.spanContext();
  // The no-op tracer's span without a parent: known invalid without checking its IDs.
  return spanContext !== INVALID_SPAN_CONTEXT && isSpanContextValid(spanContext);
}

/** Reads a message's headers for a propagator, decoding them only when it asks. */
const HEADERS: TextMapGetter<Message> = {
  keys: (message) => Object.keys(message.headers),
  get: (message, key) => message.headers[key],
};

function errorType(failure: unknown): string {
  return failure instanceof Error ? failure.name : typeof failure;
}

function describeFailure(failure: unknown): string {
  if (typeof failure === 'string') return failure;
  try {
    return JSON.stringify(failure) ?? typeof failure;
  } catch {
    return typeof failure;
  }
}

function payloadSize(message: Message): number {
  const body = message.rawBody;
  if (Buffer.isBuffer(body)) return body.length;
  let size = 0;
  for (const item of body) size += item.length;
  return size;
}
