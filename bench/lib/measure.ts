/**
 * What every scenario reports: rates, end-to-end latency (publish → handler start) percentiles,
 * peak RSS of the process, and the payloads (FastStream's benchmark body and larger variants).
 */
import { Cluster, Redis } from 'ioredis';

export type Topology = 'single' | 'cluster';

export const URLS: Record<Topology, string> = {
  single: process.env['REDSTREAM_REDIS_URL'] ?? 'redis://127.0.0.1:6379',
  cluster: process.env['REDSTREAM_CLUSTER_URL'] ?? 'redis://127.0.0.1:7000',
};

/** FastStream's benchmark message (spec §9), about 200 bytes as JSON. */
export function payload(size: 'small' | '1k' | '64k'): Record<string, unknown> {
  const base = {
    name: 'John',
    age: 39,
    fullname: 'LongString'.repeat(8),
    children: [{ name: 'Mike', age: 8, fullname: 'LongString'.repeat(8) }],
  };
  if (size === 'small') return base;
  return { ...base, blob: 'x'.repeat(size === '1k' ? 1024 - 200 : 64 * 1024 - 200) };
}

/**
 * Collects latencies in ms; percentiles at the end. The buffer is allocated and written up front,
 * so the measuring itself does not grow the process's memory during a run.
 */
export class Latency {
  readonly #samples: Float64Array;
  #count = 0;

  constructor(capacity: number) {
    // Written once now: the OS maps a fresh buffer's pages only when first written, which would
    // otherwise show up as RSS growth during the run (8 MB for a million samples).
    this.#samples = new Float64Array(capacity).fill(-1);
  }

  add(sentAt: number): void {
    if (this.#count < this.#samples.length) this.#samples[this.#count] = performance.now() - sentAt;
    this.#count += 1;
  }

  get count(): number {
    return this.#count;
  }

  percentile(p: number): number {
    const n = Math.min(this.#count, this.#samples.length);
    if (n === 0) return Number.NaN;
    const sorted = this.#samples.slice(0, n).sort();
    return sorted[Math.min(n - 1, Math.floor((p / 100) * n))]!;
  }
}

/** Resolves when `done()` returns true, checking on every call to `tick`. */
export class Countdown {
  readonly #target: number;
  #count = 0;
  #resolve: () => void = () => undefined;
  readonly finished: Promise<void>;
  firstAt = 0;
  lastAt = 0;

  constructor(target: number) {
    this.#target = target;
    this.finished = new Promise((resolve) => (this.#resolve = resolve));
  }

  get count(): number {
    return this.#count;
  }

  tick(n = 1): void {
    if (this.#count === 0) this.firstAt = performance.now();
    this.#count += n;
    this.lastAt = performance.now();
    if (this.#count >= this.#target) this.#resolve();
  }
}

/** Runs `task(i)` for i < total with at most `inFlight` running at once. */
export async function withInFlight(total: number, inFlight: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < total) {
      const i = next;
      next += 1;
      await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, total) }, lane));
}

/** A plain ioredis client for the topology (the baseline's, and for cleanup). */
export function rawClient(topology: Topology, options: { autoPipelining?: boolean; blocking?: boolean } = {}): Redis | Cluster {
  const url = new URL(URLS[topology]);
  const common = { enableAutoPipelining: options.autoPipelining ?? true, maxRetriesPerRequest: options.blocking ? null : 20, protocol: 2 as const };
  if (topology === 'single') return new Redis(URLS.single, common);
  return new Cluster([{ host: url.hostname, port: Number(url.port) }], { enableAutoPipelining: common.enableAutoPipelining, redisOptions: { protocol: 2, maxRetriesPerRequest: common.maxRetriesPerRequest } });
}

export function peakRssMb(): number {
  return Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10;
}

export function rssMb(): number {
  return Math.round((process.memoryUsage().rss / 1024 / 1024) * 10) / 10;
}

/**
 * CPU seconds (user + system) the Redis servers of a topology have used so far, from INFO cpu:
 * the single node, or every node of the cluster (replicas replicate, which costs too).
 */
export async function redisCpuSeconds(topology: Topology): Promise<number> {
  const cpuOf = async (client: Redis): Promise<number> => {
    const info = await client.info('cpu');
    const field = (name: string): number => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
    return field('used_cpu_user') + field('used_cpu_sys');
  };
  const first = new Redis(URLS[topology], { lazyConnect: true });
  try {
    if (topology === 'single') return await cpuOf(first);
    const nodes = String(await first.call('CLUSTER', 'NODES'))
      .trim()
      .split('\n')
      .map((line) => line.split(' ')[1]!.split('@')[0]!);
    let total = 0;
    for (const address of nodes) {
      const [host, port] = address.split(':');
      const node = new Redis({ host: host!, port: Number(port), lazyConnect: true });
      try {
        total += await cpuOf(node);
      } finally {
        node.disconnect();
      }
    }
    return total;
  } finally {
    first.disconnect();
  }
}

/** One scenario's result. */
export interface Result {
  readonly scenario: string;
  readonly impl: 'redstream' | 'raw ioredis' | 'bullmq';
  readonly topology: Topology;
  readonly payload: string;
  readonly messages: number;
  /** Messages (or round trips, requests) per second. */
  readonly rate: number;
  readonly publishRate?: number;
  readonly consumeRate?: number;
  readonly p50?: number;
  readonly p99?: number;
  readonly peakRssMb: number;
  readonly note?: string;
  /** CPU time (user + system) of the client process per message, in µs, over the whole scenario. */
  readonly clientCpuUs?: number;
  /** CPU time of the Redis server(s) per message, in µs (every node of a cluster). */
  readonly redisCpuUs?: number;
  /** The scenario this row's ratio is taken against (same implementation and topology), when not the raw loop. */
  readonly compareTo?: string;
  /** CPU time (µs, total) of the scenario's child processes, added to the client's. */
  readonly childCpuUs?: number;
}

export function perSecond(count: number, fromMs: number, toMs: number): number {
  return Math.round((count * 1000) / Math.max(toMs - fromMs, 0.001));
}
