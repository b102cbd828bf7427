// Compiled against the built package (dist/*.d.ts, through package.json "exports") by
// scripts/check-dts.mjs, with skipLibCheck off: the published declarations must stand on their own.
import { RedisBroker, RedisClusterBroker, StreamSub, type BrokerDescription, type Middleware, type Settlement } from 'redstream';
import { asyncapi } from 'redstream/asyncapi';
import { decodeEnvelope, encodeMessage } from 'redstream/codec';
import { RedisTelemetryMiddleware } from 'redstream/opentelemetry';
import { RedisPrometheusMiddleware } from 'redstream/prometheus';
import { TestRedisBroker } from 'redstream/testing';
import { Registry } from 'prom-client';

const broker: RedisBroker = new RedisClusterBroker('redis://127.0.0.1:7000', { startupNodes: [['127.0.0.1', 7001]], logger: null });
const seen: Settlement[] = [];
const metrics: Middleware = { afterSettled: (settlement) => void seen.push(settlement) };
const observed = [new RedisTelemetryMiddleware(), new RedisPrometheusMiddleware({ registry: new Registry() })];
broker.subscriber(new StreamSub('orders', { group: 'g', consumer: 'c' }), { middlewares: [metrics, ...observed] }, (order: { id: string }) => order.id);
const description: BrokerDescription = broker.describe();
const tb = new TestRedisBroker(broker);
export const checks = [asyncapi(broker, { title: 'x' })['asyncapi'], description.subscribers[0]?.kind, decodeEnvelope(encodeMessage('x', { correlationId: 'c' })).headers, tb.redis];

// The application's values in msg.context, typed by merging into Context.
declare module 'redstream' {
  interface Context {
    readonly db: { query(sql: string): number };
  }
}
const withContext = new RedisBroker('redis://127.0.0.1:6379', { logger: null, context: { db: { query: () => 1 } } });
withContext.subscriber({ list: 'jobs' }, (_body, msg) => {
  const rows: number | undefined = msg.context?.db.query('select 1');
  const same: RedisBroker | undefined = msg.context?.broker;
  return [rows, same];
});
