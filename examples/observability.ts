/**
 * OpenTelemetry and Prometheus on one broker: a request goes to a stream-group worker that calls
 * a second service over a list; the example prints the trace (one trace id from the request to
 * the reply) and the Prometheus scrape, then exits.
 *
 *   npm run redis:up && npx tsx examples/observability.ts
 */
import { context, propagation } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, type ReadableSpan, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Registry } from 'prom-client';
import { RedisBroker } from '../src/index.js';
import { RedisTelemetryMiddleware } from '../src/opentelemetry/index.js';
import { RedisPrometheusMiddleware } from '../src/prometheus/index.js';

// What an application's OpenTelemetry setup does once at start (the Node SDK does the same).
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
const spans: ReadableSpan[] = [];
const keep: SpanProcessor = { onStart: () => undefined, onEnd: (span) => void spans.push(span), shutdown: async () => undefined, forceFlush: async () => undefined };
const tracerProvider = new BasicTracerProvider({ spanProcessors: [keep] });

const registry = new Registry();
const broker = new RedisBroker(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379', {
  logger: null,
  middlewares: [new RedisTelemetryMiddleware({ tracerProvider }), new RedisPrometheusMiddleware({ registry, appName: 'billing' })],
});

const run = `example-${process.pid}`;
const prices = broker.publisher({ list: `${run}.prices` });
broker.subscriber(`${run}.quote`, async (item: string) => {
  await prices.publish({ item });
  return { item, price: 42 };
});
broker.subscriber({ list: `${run}.prices` }, () => undefined);

await broker.start();
const reply = await broker.request('book', { channel: `${run}.quote`, timeout: 5_000 });
console.log('reply:', reply.body);
await broker.stop();

console.log('\ntrace (name, kind, trace id, parent span):');
for (const span of spans) {
  console.log(`  ${span.name.padEnd(40)} kind=${span.kind} trace=${span.spanContext().traceId} parent=${span.parentSpanContext?.spanId ?? '-'}`);
}
console.log('\nscrape:');
const scrape = await registry.metrics();
console.log(scrape.split('\n').filter((line) => line.startsWith('faststream_') && !line.includes('_bucket')).join('\n'));
await broker.close();
