/**
 * A consumer process for the partitioned-stream kill test: one instance of group `g` of a
 * 16-partition stream on the cluster. For every message it appends the message's sequence number
 * to its key's list (`<done>:<key>`) and counts it, then says "ready" once it consumes. With
 * `held`, it starts consuming only when "go" arrives on stdin (a join at a moment of the test's choosing).
 *   node --import tsx partition-consumer.ts <url> <stream> <consumer> <leaseTime> <done> [held]
 */
import { once } from 'node:events';
import { Cluster } from 'ioredis';
import { RedisClusterBroker, StreamSub } from '../../src/index.js';

const [url, stream, consumer, leaseTime, done, held] = process.argv.slice(2) as [string, string, string, string, string, string | undefined];
const { hostname, port } = new URL(url);
const raw = new Cluster([{ host: hostname, port: Number(port) }]);
const broker = new RedisClusterBroker(url, { logger: null });
const source = new StreamSub(stream, { partitions: 16, group: 'g', consumer, leaseTime: Number(leaseTime), maxRecords: 20 });
broker.subscriber(source, async (body: { key: string; seq: number }) => {
  await raw.rpush(`${done}:${body.key}`, body.seq);
  await raw.incr(`${done}:count`);
});
if (held === 'held') {
  process.stdout.write('spawned\n');
  await once(process.stdin, 'data');
}
await broker.start();
process.stdout.write('ready\n');
