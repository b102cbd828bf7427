/**
 * A small service on the local Redis Cluster: an order stream consumed by a consumer group of two
 * workers, with schema validation, invoices published to a second stream through a publisher
 * object, and a graceful stop. Publishes ORDERS orders, waits until every one was billed, prints
 * what flowed, exits 0.
 *
 *   npm run example            (starts the local Redis topology first)
 *   REDIS_URL=redis://host:7000 ORDERS=20000 npx tsx examples/stream-service.ts
 *   REDIS_TOPOLOGY=single REDIS_URL=redis://localhost:6379 npx tsx examples/stream-service.ts
 */
import { randomUUID } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { z } from 'zod';
import { App, RedisBroker, RedisClusterBroker, StreamSub, withHashTag } from '../src/index.js';

const single = process.env['REDIS_TOPOLOGY'] === 'single';
const url = process.env['REDIS_URL'] ?? (single ? 'redis://127.0.0.1:6379' : 'redis://127.0.0.1:7000');
const total = Number(process.env['ORDERS'] ?? 5000);
const run = randomUUID().slice(0, 8);
const orders = withHashTag(`example:orders:${run}`);
const billed = withHashTag(orders, 'billed');

const Order = z.object({ id: z.string(), qty: z.number().int().positive(), price: z.number() });

// Moving to the cluster is this one line: same options, and one URL is enough.
const options = { logger: null, gracefulTimeout: 5_000 };
const broker = single ? new RedisBroker(url, options) : new RedisClusterBroker(url, options);
const invoices = broker.publisher({ stream: new StreamSub(billed, { maxlen: 100_000 }) });

const perWorker = new Map<string, number>();
let done = 0;
let finish: () => void = () => undefined;
const allBilled = new Promise<void>((resolve) => (finish = resolve));

for (const consumer of ['worker-1', 'worker-2']) {
  broker.subscriber(
    new StreamSub(orders, { group: 'billing', consumer, maxRecords: 100 }),
    { schema: Order, publishers: [invoices], maxWorkers: 16 },
    (order) => {
      perWorker.set(consumer, (perWorker.get(consumer) ?? 0) + 1);
      done += 1;
      if (done === total) finish();
      return { order: order.id, amount: order.qty * order.price };
    },
  );
}

const app = new App(broker, { logger: null });
app.afterStartup(async () => {
  const started = performance.now();
  const inFlight: Array<Promise<unknown>> = [];
  for (let i = 0; i < total; i += 1) {
    inFlight.push(broker.publish({ id: `o-${i}`, qty: 1 + (i % 5), price: 9.5 }, { stream: orders, maxlen: 100_000 }));
    if (inFlight.length === 500) await Promise.all(inFlight.splice(0));
  }
  await Promise.all(inFlight);
  const published = performance.now();
  await allBilled;
  const consumed = performance.now();
  const seconds = (consumed - started) / 1000;
  console.log(`${single ? 'single node' : 'Redis Cluster'} at ${url}`);
  console.log(`published ${total} orders to ${orders} in ${(published - started).toFixed(0)} ms`);
  for (const [worker, count] of [...perWorker].sort()) console.log(`  ${worker} billed ${count}`);
  console.log(`billed ${done} of ${total} in ${(consumed - started).toFixed(0)} ms: ${Math.round(done / seconds)} orders/s end to end`);
  app.exit();
});

await app.run();

// The example's keys are its own; remove them so repeated runs leave nothing behind.
const { hostname, port } = new URL(url);
const redis = single ? new Redis(url) : new Cluster([{ host: hostname, port: Number(port) }]);
await redis.del(orders, billed); // one hash tag, so one DEL works on a cluster too
await redis.quit();
if (done !== total) process.exit(1);
