import { Writable } from 'node:stream';
import { context, propagation, SpanKind, SpanStatusCode, trace, type Attributes } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { MeterProvider, MetricReader, type DataPoint, type Histogram } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, type ReadableSpan, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { encodeMessage } from '../../src/core/codec/index.js';
import { NackMessage, PubSub, RejectMessage, SkipMessage, StreamSub, type Message, type Middleware } from '../../src/index.js';
import { RedisTelemetryMiddleware } from '../../src/opentelemetry/index.js';
import { RedisPrometheusMiddleware } from '../../src/prometheus/index.js';
import { recordingLogger, targets, uid } from '../helpers/redis.js';
import { Inbox } from '../helpers/wait.js';

/** Collects metrics on demand. */
class TestReader extends MetricReader {
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }

  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

/** Every span that ended, in an Inbox a test can wait on. */
let ended = new Inbox<ReadableSpan>();
const collect: SpanProcessor = {
  onStart: () => undefined,
  onEnd: (span) => ended.push(span),
  shutdown: () => Promise.resolve(),
  forceFlush: () => Promise.resolve(),
};
const tracerProvider = new BasicTracerProvider({ spanProcessors: [collect] });
const reader = new TestReader();
const meterProvider = new MeterProvider({ readers: [reader] });

// What an application's OpenTelemetry SDK sets up: a context manager and the W3C propagators.
beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
});
afterAll(() => {
  context.disable();
  propagation.disable();
});
beforeEach(() => {
  ended = new Inbox<ReadableSpan>();
});

/** A middleware whose afterSettled runs after every inner one: it says when a message is fully accounted for. */
function settledSignal(): { middleware: Middleware; settled: Inbox<Message> } {
  const settled = new Inbox<Message>();
  return { settled, middleware: { afterSettled: (_settlement, message) => settled.push(message) } };
}

function spansNamed(name: string): ReadableSpan[] {
  return ended.items.filter((span) => span.name === name);
}

function waitForSpan(name: string): Promise<ReadableSpan> {
  return ended.find((span) => span.name === name, 5000, `a span "${name}"`);
}

async function histogramCount(name: string, match: (attributes: Attributes) => boolean): Promise<number> {
  const { resourceMetrics } = await reader.collect();
  const points = resourceMetrics.scopeMetrics
    .flatMap((scope) => scope.metrics)
    .filter((metric) => metric.descriptor.name === name)
    .flatMap((metric) => metric.dataPoints as Array<DataPoint<Histogram>>);
  return points.filter((point) => match(point.attributes)).reduce((sum, point) => sum + point.value.count, 0);
}

describe.each(targets)('on $name', ({ makeBroker, rawClient }) => {
  describe('OpenTelemetry', () => {
    it('makes the processing span a child of the publishing span, through the message headers', async () => {
      const telemetry = new RedisTelemetryMiddleware({ tracerProvider, meterProvider });
      const broker = makeBroker({ middlewares: [telemetry] });
      const stream = uid('otel');
      const got = new Inbox<Message>();
      broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c' }), (_b, msg) => got.push(msg));
      await broker.start();
      await broker.publish({ id: 1 }, { stream, correlationId: 'cid-otel' });
      const message = await got.next();
      const process = await waitForSpan(`${stream} process`);
      const [publish] = spansNamed(`${stream} publish`);
      expect(publish!.kind).toBe(SpanKind.PRODUCER);
      expect(process.kind).toBe(SpanKind.CONSUMER);
      expect(process.spanContext().traceId).toBe(publish!.spanContext().traceId);
      expect(process.parentSpanContext?.spanId).toBe(publish!.spanContext().spanId);
      expect(message.headers['traceparent']).toContain(publish!.spanContext().traceId);
      expect(publish!.attributes).toMatchObject({ 'messaging.system': 'redis', 'messaging.destination.name': stream, 'messaging.message.conversation_id': 'cid-otel' });
      expect(process.attributes).toMatchObject({
        'messaging.system': 'redis',
        'messaging.message.id': message.messageId,
        'messaging.message.conversation_id': 'cid-otel',
        'messaging.message.payload_size_bytes': 8,
        'messaging.destination_publish.name': stream,
      });
      expect(await histogramCount('messaging.process.duration', (a) => a['messaging.destination.name'] === stream)).toBe(1);
      expect(await histogramCount('messaging.publish.duration', (a) => a['messaging.destination.name'] === stream)).toBe(1);
    });

    it('without an SDK stays out of the way, and traces once one is registered, without a new broker', async () => {
      // No SDK yet: the API's no-op tracer and meter, and no propagator.
      propagation.disable();
      const telemetry = new RedisTelemetryMiddleware();
      const broker = makeBroker({ middlewares: [telemetry] });
      const stream = uid('otel-late');
      const got = new Inbox<Message>();
      broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c' }), (_b, msg) => got.push(msg));
      try {
        await broker.start();
        await broker.publish('before', { stream });
        const before = await got.next();
        expect(before.body).toBe('before');
        expect(before.headers['traceparent']).toBeUndefined();
        // The application registers its SDK after the broker was made.
        trace.setGlobalTracerProvider(tracerProvider);
        propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
        await broker.publish('after', { stream });
        const after = await got.next();
        const process = await waitForSpan(`${stream} process`);
        const [publish] = spansNamed(`${stream} publish`);
        expect(after.headers['traceparent']).toContain(publish!.spanContext().traceId);
        expect(process.parentSpanContext?.spanId).toBe(publish!.spanContext().spanId);
        expect(spansNamed(`${stream} process`)).toHaveLength(1);
      } finally {
        trace.disable();
        propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
      }
    });

    it('continues a trace a foreign producer started (a FastStream message with traceparent)', async () => {
      const telemetry = new RedisTelemetryMiddleware({ tracerProvider, meterProvider });
      const broker = makeBroker({ middlewares: [telemetry] });
      const list = uid('otel-foreign');
      const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
      broker.subscriber({ list }, () => undefined);
      await broker.start();
      // Bytes as FastStream writes them, with the W3C header its OpenTelemetry middleware adds.
      await rawClient().rpush(list, encodeMessage('hi', { correlationId: 'c1', headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } }));
      const process = await waitForSpan(`${list} process`);
      expect(process.spanContext().traceId).toBe(traceId);
      expect(process.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    });

    it('keeps a request, its processing and its reply in one trace', async () => {
      const telemetry = new RedisTelemetryMiddleware({ tracerProvider, meterProvider });
      const broker = makeBroker({ middlewares: [telemetry] });
      const channel = uid('otel-rpc');
      broker.subscriber(channel, (n: number) => n + 1);
      await broker.start();
      const reply = await broker.request(41, { channel, timeout: 3000 });
      expect(reply.body).toBe(42);
      const process = await waitForSpan(`${channel} process`);
      const [request] = spansNamed(`${channel} publish`);
      const traceId = request!.spanContext().traceId;
      expect(process.spanContext().traceId).toBe(traceId);
      const answer = ended.items.find((span) => span.name.endsWith(' publish') && span.parentSpanContext?.spanId === process.spanContext().spanId);
      expect(answer?.spanContext().traceId).toBe(traceId);
      expect(reply.headers['traceparent']).toContain(traceId);
    });

    it('records a handler error on the span, with status ERROR', async () => {
      const telemetry = new RedisTelemetryMiddleware({ tracerProvider, meterProvider });
      const broker = makeBroker({ middlewares: [telemetry] });
      const stream = uid('otel-error');
      broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c' }), () => {
        throw new TypeError('bad order');
      });
      await broker.start();
      await broker.publish('x', { stream });
      const process = await waitForSpan(`${stream} process`);
      expect(process.status).toEqual({ code: SpanStatusCode.ERROR, message: 'bad order' });
      expect(process.events.map((event) => event.name)).toContain('exception');
      expect(process.attributes['error.type']).toBe('TypeError');
    });
  });

  describe('Prometheus', () => {
    it('counts what was received, processed (by status) and published, with FastStream names', async () => {
      const registry = new Registry();
      const prometheus = new RedisPrometheusMiddleware({ registry, appName: 'billing', customLabels: { team: 'payments' } });
      const { middleware, settled } = settledSignal();
      const broker = makeBroker({ middlewares: [middleware, prometheus] });
      const stream = uid('prom');
      const outcomes: Record<string, () => unknown> = {
        ok: () => 'done',
        boom: () => {
          throw new RangeError('boom');
        },
        nack: () => {
          throw new NackMessage();
        },
        reject: () => {
          throw new RejectMessage();
        },
        skip: () => {
          throw new SkipMessage();
        },
      };
      broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c' }), { maxWorkers: 4 }, (kind: string) => outcomes[kind]!());
      await broker.start();
      const kinds = Object.keys(outcomes);
      for (let round = 0; round < 3; round += 1) for (const kind of kinds) await broker.publish(kind, { stream });
      await settled.take(15);
      const value = async (name: string, labels: Record<string, string>): Promise<number> => {
        const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
        const values = (metric?.values ?? []) as Array<{ labels: Record<string, string | number>; value: number; metricName?: string }>;
        return values.filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l)).reduce((sum, v) => sum + v.value, 0);
      };
      const handler = { app_name: 'billing', team: 'payments', broker: 'redis', handler: stream };
      expect(await value('faststream_received_messages_total', handler)).toBe(15);
      for (const [status, count] of [['acked', 3], ['error', 3], ['nacked', 3], ['rejected', 3], ['skipped', 3]] as const) {
        expect(await value('faststream_received_processed_messages_total', { ...handler, status })).toBe(count);
      }
      expect(await value('faststream_received_processed_messages_exceptions_total', { ...handler, exception_type: 'RangeError' })).toBe(3);
      expect(await value('faststream_received_messages_in_process', handler)).toBe(0);
      expect(await value('faststream_published_messages_total', { app_name: 'billing', destination: stream, status: 'success' })).toBe(15);
      const sizes = (await registry.getMetricsAsJSON()).find((m) => m.name === 'faststream_received_messages_size_bytes');
      expect((sizes?.values as Array<{ metricName?: string; labels: Record<string, unknown>; value: number }>).find((v) => v.metricName?.endsWith('_count') && v.labels['handler'] === stream)?.value).toBe(15);
      const text = await registry.metrics();
      expect(text).toContain('faststream_received_processed_messages_duration_seconds_bucket{le="0.075"');
    });

    it('labels a pattern subscriber with its template, and counts failed publishes', async () => {
      const registry = new Registry();
      const prometheus = new RedisPrometheusMiddleware({ registry });
      const { middleware, settled } = settledSignal();
      const broker = makeBroker({ middlewares: [middleware, prometheus] });
      const base = uid('prom-logs');
      broker.subscriber(new PubSub(`${base}.{level}`), () => undefined);
      await broker.start();
      await broker.publish('a', `${base}.warn`);
      await broker.publish('b', `${base}.error`);
      await settled.take(2);
      const processed = (await registry.getMetricsAsJSON()).find((m) => m.name === 'faststream_received_processed_messages_total');
      expect(processed?.values.map((v) => v.labels['handler'])).toEqual([`${base}.{level}`]);
      const notAList = uid('prom-wrongtype');
      await rawClient().set(notAList, 'x');
      await expect(broker.publish('x', { list: notAList })).rejects.toThrow(/WRONGTYPE/);
      const published = (await registry.getMetricsAsJSON()).find((m) => m.name === 'faststream_published_messages_total');
      expect(published?.values.find((v) => v.labels['destination'] === notAList)).toMatchObject({ value: 1, labels: { status: 'error' } });
    });
  });

  describe('logs', () => {
    it('say Received and Processed for every message, with subscriber, destination, message and correlation ids', async () => {
      const logger = recordingLogger();
      const broker = makeBroker({ logger });
      const stream = uid('logs');
      broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c' }), () => undefined);
      await broker.start();
      const id = await broker.publish('x', { stream, correlationId: 'cid-log' });
      const context = { subscriber: stream, destination: stream, messageId: id, correlationId: 'cid-log' };
      expect((await logger.line((l) => l.message === 'Received')).context).toEqual(context);
      expect((await logger.line((l) => l.message === 'Processed')).context).toEqual(context);
      expect(logger.lines.find((l) => l.message === 'waiting for messages')?.context).toEqual({ subscriber: stream });
    });

    it('come out as JSON lines when the logger is pino', async () => {
      const lines = new Inbox<Record<string, unknown>>();
      const sink = new Writable({
        write(chunk: Buffer, _encoding, done) {
          for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
          done();
        },
      });
      const broker = makeBroker({ logger: pino({ level: 'info' }, sink) });
      const list = uid('pino');
      broker.subscriber({ list }, () => undefined);
      await broker.start();
      await broker.publish('x', { list, correlationId: 'cid-pino' });
      const processed = await lines.find((line) => line['msg'] === 'Processed');
      expect(processed).toMatchObject({ level: 30, subscriber: list, destination: list, correlationId: 'cid-pino' });
    });
  });

  describe('ping', () => {
    it('is false before connecting and true once connected, without throwing', async () => {
      const broker = makeBroker();
      expect(await broker.ping(200)).toBe(false);
      await broker.connect();
      expect(await broker.ping(2000)).toBe(true);
      await broker.stop();
      expect(await broker.ping(200)).toBe(false);
    });
  });
});
