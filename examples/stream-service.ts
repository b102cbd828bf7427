/**
 * A small service: an order stream consumed by a consumer group of two workers, with schema
 * validation, a reply stream fed through a publisher object, and a graceful stop.
 * Publishes ORDERS orders, waits until every one was billed, prints what flowed, exits 0.
 *
 *   npm run example            (starts the local Redis topology first)
 *   REDIS_URL=redis://host:6379 ORDERS=20000 npx tsx examples/stream-service.ts
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { App, RedisBroker, StreamSub } from '../src/index.js';

const url = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const total = Number(process.env['ORDERS'] ?? 5000);
const run = randomUUID().slice(0, 8);
const orders = `example:orders:${run}`;
const billed = `example:billed:${run}`;

const Order = z.object({ id: z.string(), qty: z.number().int().positive(), price: z.number() });

const broker = new RedisBroker(url, { logger: null, gracefulTimeout: 5_000 });
const invoices = broker.publisher({ stream: new StreamSub(billed, { maxlen: 100_000 }) });

const perWorker = new Map<string, number>();
let done = 0;
let finish: () => void = () => undefined;
const allBilled = new Promise<void>((resolve) => (finish = resolve));

for (const consumer of ['worker-1', 'worker-2']) {
  broker.subscriber(
    new StreamSub(orders, { group: 'billing', consumer, maxRecords: 100 }),
    { schema: Order, publishers: [invoices] },
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
  console.log(`published ${total} orders to ${orders} in ${(published - started).toFixed(0)} ms`);
  for (const [worker, count] of [...perWorker].sort()) console.log(`  ${worker} billed ${count}`);
  console.log(`billed ${done} of ${total} in ${(consumed - started).toFixed(0)} ms: ${Math.round(done / seconds)} orders/s end to end`);
  app.exit();
});

await app.run();

// The example's keys are its own; remove them so repeated runs leave nothing behind.
const redis = new Redis(url);
await redis.del(orders, billed);
await redis.quit();
if (done !== total) process.exit(1);
