/**
 * The peer: BullMQ adding and processing the same number of jobs with the same concurrency.
 */
import { Queue, Worker } from 'bullmq';
import type { Scenario } from './scenario.js';
import { Countdown, Latency, payload, peakRssMb, perSecond, rawClient, withInFlight, type Result } from './measure.js';

export async function jobs(s: Scenario, key: string): Promise<Result> {
  // BullMQ keeps a queue's keys in one slot when its prefix is a hash tag.
  const name = key.replace(/[^a-z0-9-]/gi, '');
  const prefix = s.topology === 'cluster' ? `{${name}}` : 'bench';
  const connection = () => rawClient(s.topology, { autoPipelining: false, blocking: true });
  const queue = new Queue(name, { connection: connection(), prefix });
  const latency = new Latency(s.messages);
  const done = new Countdown(s.messages);
  const worker = new Worker(
    name,
    (job) => {
      latency.add((job.data as { t: number }).t);
      done.tick();
      return Promise.resolve();
    },
    { connection: connection(), prefix, concurrency: s.inFlight, removeOnComplete: { count: 0 }, autorun: true },
  );
  await worker.waitUntilReady();
  const body = payload(s.payload);
  const start = performance.now();
  await withInFlight(s.messages, s.inFlight, () => queue.add('job', { ...body, t: performance.now() }, { removeOnComplete: true }));
  const publishRate = perSecond(s.messages, start, performance.now());
  await done.finished;
  const rate = perSecond(s.messages, start, done.lastAt);
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return {
    scenario: s.id, impl: 'bullmq', topology: s.topology, payload: s.payload, messages: s.messages, rate, publishRate, consumeRate: rate,
    p50: latency.percentile(50), p99: latency.percentile(99), peakRssMb: peakRssMb(),
  };
}
