/**
 * The scenarios of one benchmark run (issue: "Benchmarks"), for `--quick` or a full run.
 */
import type { Topology } from './measure.js';

export type Dest = 'channel' | 'list' | 'list-batch' | 'stream' | 'stream-group' | 'stream-group-batch';

export interface Scenario {
  readonly id: string;
  readonly kind: 'pingpong' | 'throughput' | 'rpc' | 'pipeline' | 'jobs' | 'fleet' | 'partitions';
  readonly impl: 'redstream' | 'raw' | 'bullmq';
  readonly topology: Topology;
  readonly dest: Dest;
  readonly payload: 'small' | '1k' | '64k';
  readonly messages: number;
  readonly inFlight: number;
  /** Read COUNT / batch size. */
  readonly batch: number;
  readonly consumers: number;
  /** Publish everything first, then consume (stored kinds only). */
  readonly separate: boolean;
  readonly usePipeline?: boolean;
  /** Sample RSS every N consumed messages (the long run). */
  readonly rssEvery?: number;
  /** A middleware on the broker, to measure its cost against the same scenario without it. */
  readonly middleware?: 'opentelemetry' | 'prometheus';
  /** The scenario (same implementation and topology) this row is compared with, instead of the raw loop. */
  readonly compareTo?: string;
  /** Fleet: idle subscribers besides the busy one, and whether each reader gets a connection of its own. */
  readonly idle?: number;
  readonly dedicated?: boolean;
  /** Partitions: how many the stream has (undefined: one plain stream); `consumers` are processes. */
  readonly partitions?: number;
  /**
   * Latency-bound rows (one message in flight) move with the machine's noise more than their
   * difference: the row and its peers (same id, topology, payload) run this many times, taking
   * turns, and the run with the median rate is reported.
   */
  readonly rounds?: number;
}

export function scenarios(quick: boolean): Scenario[] {
  const n = quick ? 10_000 : 200_000;
  const list: Scenario[] = [];
  const base = { payload: 'small', inFlight: 100, batch: 100, consumers: 1, separate: false } as const;
  for (const topology of ['single', 'cluster'] as const) {
    for (const dest of ['channel', 'list', 'stream'] as const) {
      for (const impl of ['redstream', 'raw'] as const) {
        list.push({ ...base, id: `ping-pong ${dest}`, kind: 'pingpong', impl, topology, dest, messages: quick ? 1500 : 20_000, inFlight: 1, batch: 1, rounds: quick ? 1 : 3 });
      }
    }
    const throughput: Array<[Dest, number, boolean]> = [
      ['channel', 1, false], ['list', 1, false], ['list', 1, true], ['list-batch', 1, false], ['list-batch', 1, true],
      ['stream', 1, false], ['stream', 1, true], ['stream-group', 1, false], ['stream-group', 1, true], ['stream-group', 4, false],
      ['stream-group-batch', 1, false], ['stream-group-batch', 1, true],
    ];
    for (const [dest, consumers, separate] of throughput) {
      for (const impl of ['redstream', 'raw'] as const) {
        const id = `throughput ${dest}${consumers > 1 ? ` x${consumers}` : ''}${separate ? ' (publish, then consume)' : ''}`;
        // The stream group rows are what the middlewares' cost is measured against: they take turns with them.
        const rounds = dest === 'stream-group' && consumers === 1 && !quick ? 3 : 1;
        list.push({ ...base, id, kind: 'throughput', impl, topology, dest, consumers, separate, messages: n, rounds });
      }
    }
    for (const [size, count] of [['1k', quick ? 5000 : 100_000], ['64k', quick ? 500 : 5000]] as const) {
      for (const dest of ['list', 'stream-group'] as const) {
        for (const impl of ['redstream', 'raw'] as const) {
          list.push({ ...base, id: `throughput ${dest} ${size}`, kind: 'throughput', impl, topology, dest, payload: size, messages: count });
        }
      }
    }
    for (const impl of ['redstream', 'bullmq'] as const) {
      list.push({ ...base, id: 'jobs: stream group vs BullMQ', kind: impl === 'bullmq' ? 'jobs' : 'throughput', impl, topology, dest: 'stream-group', messages: quick ? 5000 : 50_000 });
    }
    // What each observability middleware costs: the stream group row with it on (OpenTelemetry
    // with the API's no-op provider, as when no SDK is registered; Prometheus with a registry).
    for (const middleware of ['opentelemetry', 'prometheus'] as const) {
      const label = middleware === 'opentelemetry' ? 'OpenTelemetry, no-op provider' : 'Prometheus';
      const rounds = quick ? 1 : 3;
      list.push({ ...base, id: `throughput stream-group + ${label}`, kind: 'throughput', impl: 'redstream', topology, dest: 'stream-group', messages: n, middleware, compareTo: 'throughput stream-group', rounds });
      // The consuming side alone: the rate is that of consuming a full stream.
      const full = 'throughput stream-group (publish, then consume)';
      list.push({ ...base, id: `${full} + ${label}`, kind: 'throughput', impl: 'redstream', topology, dest: 'stream-group', messages: n, separate: true, middleware, compareTo: full, rounds });
    }
    // Many idle subscribers and one busy one: latency to an idle one, connections, start and stop.
    for (const dedicated of [false, true]) {
      const id = `idle fleet: 1,000 stream groups + 1 busy, ${dedicated ? 'dedicated connections' : 'shared connections'}`;
      list.push({ ...base, id, kind: 'fleet', impl: 'redstream', topology, dest: 'stream-group', messages: quick ? 300 : 2000, idle: 1000, dedicated });
    }
    for (const callers of [1, 100]) {
      const id = `rpc ${callers} caller${callers > 1 ? 's' : ''}`;
      // As many round trips as ping-pong: fewer would measure start-up and a cold JIT more than
      // requests. Fewer on the cluster, where the raw loop's classic Pub/Sub crosses the cluster bus
      // (about 150 round trips a second).
      const messages = quick ? 1000 : topology === 'cluster' ? 5000 : 20_000;
      const rounds = callers === 1 && !quick ? 3 : 1;
      for (const impl of ['redstream', 'raw'] as const) list.push({ ...base, id, kind: 'rpc', impl, topology, dest: 'channel', inFlight: callers, messages, rounds });
    }
  }
  for (const usePipeline of [false, true]) {
    list.push({ ...base, id: `cluster publishes to every master ${usePipeline ? 'with' : 'without'} pipeline`, kind: 'pipeline', impl: 'redstream', topology: 'cluster', dest: 'stream', inFlight: 1000, batch: 1000, messages: quick ? 10_000 : 100_000, usePipeline });
  }
  list.push({ ...base, id: 'cluster publishes to every master', kind: 'pipeline', impl: 'raw', topology: 'cluster', dest: 'stream', inFlight: 1000, batch: 1000, messages: quick ? 10_000 : 100_000 });
  // One stream against 16 partitions over the three masters, consumed by 1, 2 and 4 processes of one
  // group; and 16 partitions with one message at a time per partition (each key in order).
  for (const processes of [1, 2, 4]) {
    const messages = quick ? 10_000 : 100_000;
    const common = { ...base, kind: 'partitions', impl: 'redstream', topology: 'cluster', dest: 'stream-group', consumers: processes, messages } as const;
    const of = `${processes} consumer process${processes > 1 ? 'es' : ''}`;
    list.push({ ...common, id: `partitions: one stream, ${of}` });
    list.push({ ...common, id: `partitions: 16 partitions, ${of}`, partitions: 16, inFlight: 10 });
    list.push({ ...common, id: `partitions: 16 partitions in key order (maxWorkers 1), ${of}`, partitions: 16, inFlight: 1 });
  }
  const long = quick ? 30_000 : 1_000_000;
  list.push({ ...base, id: `long run stream group (${long / 1000}k)`, kind: 'throughput', impl: 'redstream', topology: 'single', dest: 'stream-group', messages: long, rssEvery: quick ? 10_000 : 100_000 });
  return list;
}
