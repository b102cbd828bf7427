/**
 * One consumer process of the partition scenarios (bench/lib/partitions.ts), started with IPC:
 * consumes one stream (a group) or a partitioned one, reports counts every 50 ms, and on "stop"
 * sends its latencies (publish → handler, by the shared wall clock) and CPU time, then exits.
 */
import { RedisBroker, RedisClusterBroker, StreamSub } from 'redstream';
import { URLS, type Topology } from './lib/measure.js';

interface Args {
  readonly topology: Topology;
  readonly name: string;
  readonly partitions: number | undefined;
  readonly consumer: string;
  readonly maxWorkers: number;
  readonly capacity: number;
}

const args = JSON.parse(process.argv[2]!) as Args;
const send = (message: unknown): void => void process.send!(message);
const options = { logger: null, gracefulTimeout: 2000 };
const broker = args.topology === 'single' ? new RedisBroker(URLS.single, options) : new RedisClusterBroker(URLS.cluster, options);
const latencies = new Float64Array(args.capacity);
let count = 0;
let reported = 0;
const partitioned = args.partitions === undefined ? {} : { partitions: args.partitions };
const source = new StreamSub(args.name, { group: 'g', consumer: args.consumer, lastId: '0', maxRecords: 100, ...partitioned });
broker.subscriber(source, { maxWorkers: args.maxWorkers }, (body: { t: number }) => {
  if (count < latencies.length) latencies[count] = performance.timeOrigin + performance.now() - body.t;
  count += 1;
});
await broker.start();
// From here on: the messages' cost, not the process's start.
const cpuBefore = process.cpuUsage();
const timer = setInterval(() => {
  if (count === reported) return;
  send({ type: 'count', n: count - reported });
  reported = count;
}, 50);
send({ type: 'ready' });
process.on('message', (message: { type: string }) => {
  if (message.type !== 'stop') return;
  clearInterval(timer);
  void broker.close().then(() => {
    const cpu = process.cpuUsage(cpuBefore);
    const done = { type: 'done', n: count - reported, latencies: Array.from(latencies.subarray(0, Math.min(count, latencies.length))), cpuUs: cpu.user + cpu.system };
    // Disconnecting before a large message is flushed would lose it.
    process.send!(done, () => process.disconnect());
  });
});
