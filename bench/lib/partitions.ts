/**
 * One stream against a partitioned one on the cluster, consumed by 1, 2 or 4 processes of one
 * group (bench/partition-consumer.ts): this process publishes with a message key, the consumers
 * count. Consumers start before the clock does; the rate runs from the first publish to the last
 * message consumed, CPU adds every consumer process's to this one's.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RedisBroker, RedisClusterBroker, StreamSub } from 'redstream';
import type { Scenario } from './scenario.js';
import { payload, peakRssMb, perSecond, rawClient, URLS, withInFlight, type Result } from './measure.js';

const consumerScript = fileURLToPath(new URL('../partition-consumer.ts', import.meta.url));

interface Consumer {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  readonly done: Promise<{ latencies: number[]; cpuUs: number }>;
}

export async function partitions(s: Scenario, key: string): Promise<Result> {
  const name = key.replace(/[{}]/g, '');
  const perProcess = Math.ceil(s.messages / s.consumers) + s.messages;
  let consumed = 0;
  let lastAt = 0;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const count = (n: number): void => {
    consumed += n;
    lastAt = performance.now();
    if (consumed >= s.messages) finish();
  };
  const consumers = Array.from({ length: s.consumers }, (_, i): Consumer => {
    const args = { topology: s.topology, name, partitions: s.partitions, consumer: `c${i}`, maxWorkers: s.inFlight, capacity: perProcess };
    const child = fork(consumerScript, [JSON.stringify(args)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let ready: () => void = () => undefined;
    let done: (value: { latencies: number[]; cpuUs: number }) => void = () => undefined;
    const consumer = { child, ready: new Promise<void>((resolve) => (ready = resolve)), done: new Promise<{ latencies: number[]; cpuUs: number }>((resolve) => (done = resolve)) };
    child.on('message', (message: { type: string; n?: number; latencies?: number[]; cpuUs?: number }) => {
      if (message.type === 'ready') ready();
      if (message.type === 'count' || message.type === 'done') count(message.n ?? 0);
      if (message.type === 'done') done({ latencies: message.latencies ?? [], cpuUs: message.cpuUs ?? 0 });
    });
    return consumer;
  });
  await Promise.all(consumers.map((consumer) => consumer.ready));
  const options = { logger: null, gracefulTimeout: 2000 };
  const broker = s.topology === 'single' ? new RedisBroker(URLS.single, options) : new RedisClusterBroker(URLS.cluster, options);
  await broker.connect();
  const stream = new StreamSub(name, s.partitions === undefined ? {} : { partitions: s.partitions });
  const body = payload(s.payload);
  const start = performance.now();
  await withInFlight(s.messages, 100, (i) => broker.publish({ ...body, t: performance.timeOrigin + performance.now() }, { stream, ...(s.partitions ? { key: `customer-${i % 1000}` } : {}) }));
  const publishRate = perSecond(s.messages, start, performance.now());
  await finished;
  const consumeRate = perSecond(s.messages, start, lastAt);
  for (const consumer of consumers) consumer.child.send({ type: 'stop' });
  const results = await Promise.all(consumers.map((consumer) => consumer.done));
  await broker.close();
  const latencies = Float64Array.from(results.flatMap((result) => result.latencies)).sort();
  const at = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!;
  const cleanup = rawClient(s.topology);
  const keys = s.partitions === undefined ? [name] : Array.from({ length: s.partitions }, (_, p) => stream.partition(p));
  await Promise.all([...keys, `redstream:partitions:{${name}}`, `redstream:leases:{${name}:g}`, `redstream:members:{${name}:g}`].map((k) => cleanup.del(k)));
  await cleanup.quit();
  const childCpuUs = results.reduce((sum, result) => sum + result.cpuUs, 0);
  return {
    scenario: s.id, impl: 'redstream', topology: s.topology, payload: s.payload, messages: s.messages,
    rate: consumeRate, publishRate, consumeRate, p50: at(50), p99: at(99), peakRssMb: peakRssMb(), childCpuUs,
    note: `${s.consumers} consumer process${s.consumers > 1 ? 'es' : ''}, maxWorkers ${s.inFlight}${s.partitions ? ' per partition' : ''}; CPU includes theirs`,
  };
}
