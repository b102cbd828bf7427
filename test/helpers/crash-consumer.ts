/**
 * A consumer process for the crash test: it records every message it finishes in Redis, and is
 * killed with SIGKILL by the test while handlers are in flight.
 *   node --import tsx crash-consumer.ts <url> <stream> <consumer> <processedKey> <countKey>
 */
import { Redis } from 'ioredis';
import { RedisBroker, StreamSub } from '../../src/index.js';

const [url, stream, consumer, processedKey, countKey] = process.argv.slice(2) as [string, string, string, string, string];
const raw = new Redis(url);
const broker = new RedisBroker(url, { logger: null });
broker.subscriber(new StreamSub(stream, { group: 'g', consumer, maxRecords: 50 }), { maxWorkers: 50 }, async (body: string) => {
  await new Promise((resolve) => setTimeout(resolve, 5));
  await raw.multi().sadd(processedKey, body).incr(countKey).exec();
});
await broker.start();
process.stdout.write('ready\n');
