/**
 * `redstream/prometheus`: FastStream's Prometheus metrics (names, types, labels and buckets), so
 * FastStream's Grafana dashboard and alerts work unchanged. Needs `prom-client` (an optional peer
 * dependency) and a registry the application exposes.
 * @packageDocumentation
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { ControlFlowError, OptionError } from '../core/errors.js';
import type { Message } from '../core/message.js';
import type { Middleware, PublishCommand, Settlement } from '../core/middleware.js';
import { LeanHistogram, type Observer } from './histogram.js';

/** Options of {@link RedisPrometheusMiddleware}. */
export interface RedisPrometheusOptions {
  /** The prom-client registry the metrics are registered in (and scraped from). */
  readonly registry: Registry;
  /** The `app_name` label of every metric. @defaultValue `metricsPrefix` */
  readonly appName?: string;
  /** Metric name prefix. @defaultValue `'faststream'` */
  readonly metricsPrefix?: string;
  /** Buckets of `<prefix>_received_messages_size_bytes`. @defaultValue powers of two from 2^4 to 2^24 */
  readonly receivedMessagesSizeBuckets?: readonly number[];
  /** More labels, with fixed values, on every metric. */
  readonly customLabels?: Readonly<Record<string, string>>;
}

/** Python prometheus_client's default buckets, which FastStream's duration histograms use. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
const SIZE_BUCKETS = Array.from({ length: 21 }, (_, i) => 2 ** (i + 4));

/** The `status` label of processed messages, as FastStream writes it. */
export type ProcessedStatus = 'acked' | 'nacked' | 'rejected' | 'skipped' | 'error';

interface Metrics {
  /** Run before any of these metrics is read (their `collect`). */
  flushers: Set<() => void>;
  received: Counter;
  receivedSize: LeanHistogram;
  inProcess: Gauge;
  processed: Counter;
  processedDuration: LeanHistogram;
  processedExceptions: Counter;
  published: Counter;
  publishedDuration: LeanHistogram;
  publishedExceptions: Counter;
}

/**
 * Counts and times what the broker receives, processes and publishes, with FastStream's metric
 * names. Processing time is from receipt to the end of the handler and its replies. The `handler` label is the subscriber as registered (a pattern's template, never each
 * concrete channel), so label values stay bounded. A handler that throws counts as
 * `status="error"` whatever the ack policy then did; an explicit `ack()` / `nack()` / `reject()`
 * (or AckMessage, NackMessage, RejectMessage, SkipMessage) counts as what it did, and a message
 * moved to its dead-letter stream counts as `rejected`. Replies are not measured, as in FastStream.
 *
 * @example
 * const registry = new Registry();
 * const broker = new RedisBroker(url, { middlewares: [new RedisPrometheusMiddleware({ registry, appName: 'billing' })] });
 * // serve `await registry.metrics()` at /metrics
 */
export class RedisPrometheusMiddleware implements Middleware {
  readonly #metrics: Metrics;
  readonly #base: Readonly<Record<string, string>>;
  /** Label-bound metrics per handler and per destination, made once (prom-client hashes labels on every call otherwise). */
  readonly #handlers = new Map<string, HandlerMetrics>();
  readonly #destinations = new Map<string, DestinationMetrics>();
  /** Hand the counts kept since the last scrape to prom-client. */
  readonly #flushers: Set<() => void>;

  constructor(options: RedisPrometheusOptions) {
    const prefix = options.metricsPrefix ?? 'faststream';
    if (options.customLabels !== undefined && 'le' in options.customLabels) {
      throw new OptionError('customLabels', options.customLabels, 'labels other than `le` (the bucket label of every histogram)');
    }
    this.#base = { ...options.customLabels, app_name: options.appName ?? prefix };
    this.#metrics = createMetrics(options.registry, prefix, Object.keys(this.#base), options.receivedMessagesSizeBuckets ?? SIZE_BUCKETS);
    this.#flushers = this.#metrics.flushers;
  }

  onReceive(message: Message): void {
    const metrics = this.#handler(message);
    const body = message.rawBody;
    if (Buffer.isBuffer(body)) {
      metrics.pending.received += 1;
      metrics.receivedSize.observe(body.length);
    } else {
      metrics.pending.received += body.length;
      for (const item of body) metrics.receivedSize.observe(item.length);
    }
    metrics.pending.inProcess += 1;
  }

  afterSettled(settlement: Settlement, message: Message): void {
    const metrics = this.#handler(message);
    metrics.pending.inProcess -= 1;
    metrics.duration.observe(settlement.processMs / 1000);
    const status = processedStatus(settlement);
    metrics.pending[status] += 1;
    const { error } = settlement;
    if (status === 'error' && error !== undefined && !(error instanceof ControlFlowError)) {
      this.#metrics.processedExceptions.inc({ ...metrics.labels, exception_type: errorType(error) });
    }
  }

  publishScope(next: (command: PublishCommand) => Promise<unknown>, command: PublishCommand): Promise<unknown> {
    if (command.type === 'reply') return next(command);
    const metrics = this.#destination(command.destination);
    const count = command.batch && Array.isArray(command.body) ? command.body.length : 1;
    const started = performance.now();
    return next(command).then(
      (result) => {
        metrics.pending.success += count;
        metrics.duration.observe((performance.now() - started) / 1000);
        return result;
      },
      (error: unknown) => {
        metrics.pending.error += count;
        metrics.duration.observe((performance.now() - started) / 1000);
        this.#metrics.publishedExceptions.inc({ ...metrics.labels, exception_type: errorType(error) });
        throw error;
      },
    );
  }

  #handler(message: Message): HandlerMetrics {
    const handler = message.subscriber?.name ?? message.source.name;
    let metrics = this.#handlers.get(handler);
    if (!metrics) {
      const labels = { ...this.#base, broker: 'redis', handler };
      const m = this.#metrics;
      const pending = { received: 0, inProcess: 0, acked: 0, nacked: 0, rejected: 0, skipped: 0, error: 0 };
      const received = m.received.labels(labels);
      const inProcess = m.inProcess.labels(labels);
      const processed = PROCESSED_STATUSES.map((status) => [status, m.processed.labels({ ...labels, status })] as const);
      metrics = { labels, pending, receivedSize: m.receivedSize.labels(labels), duration: m.processedDuration.labels(labels) };
      // Counts are kept as plain numbers and handed to prom-client when it is scraped.
      this.#flushers.add(() => {
        if (pending.received > 0) received.inc(pending.received);
        // Always, so the gauge shows 0 rather than nothing.
        inProcess.inc(pending.inProcess);
        for (const [status, child] of processed) if (pending[status] > 0) child.inc(pending[status]);
        pending.received = 0;
        pending.inProcess = 0;
        for (const status of PROCESSED_STATUSES) pending[status] = 0;
      });
      this.#handlers.set(handler, metrics);
    }
    return metrics;
  }

  #destination(destination: string): DestinationMetrics {
    let metrics = this.#destinations.get(destination);
    if (!metrics) {
      const labels = { ...this.#base, broker: 'redis', destination };
      const m = this.#metrics;
      const pending = { success: 0, error: 0 };
      const success = m.published.labels({ ...labels, status: 'success' });
      const error = m.published.labels({ ...labels, status: 'error' });
      metrics = { labels, pending, duration: m.publishedDuration.labels(labels) };
      this.#flushers.add(() => {
        if (pending.success > 0) success.inc(pending.success);
        if (pending.error > 0) error.inc(pending.error);
        pending.success = 0;
        pending.error = 0;
      });
      // Destinations are names the service publishes to: bounded, like its subscribers.
      this.#destinations.set(destination, metrics);
    }
    return metrics;
  }
}

const PROCESSED_STATUSES = ['acked', 'nacked', 'rejected', 'skipped', 'error'] as const;

interface HandlerMetrics {
  readonly labels: Readonly<Record<string, string>>;
  /** Counted since the last scrape. */
  readonly pending: Record<'received' | 'inProcess' | ProcessedStatus, number>;
  readonly receivedSize: Observer;
  readonly duration: Observer;
}

interface DestinationMetrics {
  readonly labels: Readonly<Record<string, string>>;
  readonly pending: Record<'success' | 'error', number>;
  readonly duration: Observer;
}

/** The `status` label for a settled message. */
export function processedStatus(settlement: Settlement): ProcessedStatus {
  switch (settlement.status) {
    case 'dead-lettered':
      return 'rejected';
    default:
      return settlement.status;
  }
}

function errorType(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

/** The metrics, registered once per registry and prefix (a second middleware on the same registry shares them). */
function createMetrics(registry: Registry, prefix: string, base: readonly string[], sizeBuckets: readonly number[]): Metrics {
  const handler = [...base, 'broker', 'handler'];
  const destination = [...base, 'broker', 'destination'];
  const shared = (sharedFlushers.get(registry) ?? sharedFlushers.set(registry, new Map()).get(registry))!;
  const flushers = shared.get(prefix) ?? shared.set(prefix, new Set()).get(prefix)!;
  const collect = (): void => {
    for (const flush of flushers) flush();
  };
  const existing = <T>(name: string): T | undefined => registry.getSingleMetric(name) as T | undefined;
  const counter = (name: string, help: string, labelNames: string[]): Counter =>
    existing<Counter>(name) ?? new Counter({ name, help, labelNames, registers: [registry], collect });
  const histogram = (name: string, help: string, labelNames: string[], buckets: readonly number[]): LeanHistogram =>
    existing<LeanHistogram>(name) ?? new LeanHistogram(registry, name, help, labelNames, buckets);
  const gauge = (name: string, help: string, labelNames: string[]): Gauge => existing<Gauge>(name) ?? new Gauge({ name, help, labelNames, registers: [registry], collect });
  return {
    flushers,
    received: counter(`${prefix}_received_messages_total`, 'Messages received (a batch counts its messages).', handler),
    receivedSize: histogram(`${prefix}_received_messages_size_bytes`, 'Sizes of received messages, in bytes.', handler, sizeBuckets),
    inProcess: gauge(`${prefix}_received_messages_in_process`, 'Messages being processed now.', handler),
    processed: counter(`${prefix}_received_processed_messages_total`, 'Messages processed, by how they ended.', [...handler, 'status']),
    processedDuration: histogram(`${prefix}_received_processed_messages_duration_seconds`, 'How long processing took, in seconds.', handler, DURATION_BUCKETS),
    processedExceptions: counter(`${prefix}_received_processed_messages_exceptions_total`, 'Exceptions raised while processing.', [...handler, 'exception_type']),
    published: counter(`${prefix}_published_messages_total`, 'Messages published, by outcome.', [...destination, 'status']),
    publishedDuration: histogram(`${prefix}_published_messages_duration_seconds`, 'How long publishing took, in seconds.', destination, DURATION_BUCKETS),
    publishedExceptions: counter(`${prefix}_published_messages_exceptions_total`, 'Exceptions raised while publishing.', [...destination, 'exception_type']),
  };
}

/** The flushers of every middleware that counts into one registry under one prefix. */
const sharedFlushers = new WeakMap<Registry, Map<string, Set<() => void>>>();
