/**
 * A consumer process for the crash test: it records every message it finishes in Redis, and is
 * killed with SIGKILL by the test while handlers are in flight.
 *   node --import tsx crash-consumer.ts <single|cluster> <url> <stream> <consumer> <processedKey> <countKey>
 */
import { Cluster, Redis } from 'ioredis';
import { RedisBroker, RedisClusterBroker, StreamSub } from '../../src/index.js';

const [topology, url, stream, consumer, processedKey, countKey] = process.argv.slice(2) as [string, string, string, string, string, string];
const { hostname, port } = new URL(url);
const raw = topology === 'cluster' ? new Cluster([{ host: hostname, port: Number(port) }]) : new Redis(url);
const broker = topology === 'cluster' ? new RedisClusterBroker(url, { logger: null }) : new RedisBroker(url, { logger: null });
broker.subscriber(new StreamSub(stream, { group: 'g', consumer, maxRecords: 50 }), { maxWorkers: 50 }, async (body: string) => {
  await new Promise((resolve) => setTimeout(resolve, 5));
  // Both keys share a hash tag, so this MULTI works on a cluster too.
  await raw.multi().sadd(processedKey, body).incr(countKey).exec();
});
await broker.start();
process.stdout.write('ready\n');
