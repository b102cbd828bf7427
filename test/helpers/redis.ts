import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { afterEach } from 'vitest';
import { RedisBroker, RedisClusterBroker, type Logger, type RedisBrokerOptions } from '../../src/index.js';
import { MemoryRedis, TestRedisBroker } from '../../src/testing/index.js';
import { asText, MemorySubscriber } from '../../src/testing/memory/strategy.js';
import { redisTargets } from './targets.js';

const topology = redisTargets();
export const SINGLE_URL = topology.single.url;
export const CLUSTER_URL = topology.cluster.url;

let counter = 0;
/** A key or channel name no other test (or test run) uses. */
export function uid(tag: string): string {
  counter += 1;
  return `rs-test:${tag}:${process.pid}:${counter}:${randomBytes(3).toString('hex')}`;
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  const pending = cleanups.splice(0);
  await Promise.all(pending.map((cleanup) => cleanup().catch(() => undefined)));
});

export type RawClient = Redis | Cluster;

/**
 * What the in-memory Redis of TestRedisBroker cannot reproduce, in one place. A test that needs
 * one of these runs only on the targets that can (`target.can(…)`).
 */
export const MEMORY_CANNOT = {
  sockets: 'it opens no socket: there are no connections to count and no node to be unreachable',
  processes: 'another process cannot reach it',
} as const;
export type Capability = keyof typeof MEMORY_CANNOT;

/** One Redis topology the behaviour suites run against; only the broker factory differs. */
export interface RedisTarget {
  readonly name: 'single' | 'cluster' | 'memory';
  readonly can: (capability: Capability) => boolean;
  readonly url: string;
  /** A broker for this topology, closed after the test. */
  readonly makeBroker: (options?: RedisBrokerOptions) => RedisBroker;
  /** A plain ioredis client for looking at what Redis holds, closed after the test. */
  readonly rawClient: () => RawClient;
}

function track<T extends { close(): Promise<void> } | RawClient>(value: T): T {
  cleanups.push(() => ('quit' in value ? value.quit() : value.close()));
  return value;
}

const defaults: RedisBrokerOptions = { logger: null, gracefulTimeout: 3000 };

export const singleTarget: RedisTarget = {
  name: 'single',
  can: () => true,
  url: SINGLE_URL,
  makeBroker: (options = {}) => track(new RedisBroker(SINGLE_URL, { ...defaults, ...options })),
  rawClient: () => track(new Redis(SINGLE_URL, { protocol: 2 })),
};

export const clusterTarget: RedisTarget = {
  name: 'cluster',
  can: () => true,
  url: CLUSTER_URL,
  makeBroker: (options = {}) => track(new RedisClusterBroker(CLUSTER_URL, { ...defaults, ...options })),
  rawClient: () => {
    const { hostname, port } = new URL(CLUSTER_URL);
    return track(new Cluster([{ host: hostname, port: Number(port) }], { redisOptions: { protocol: 2 } }));
  },
};

/** One in-memory Redis per test process, shared by its brokers like a real server. */
const memory = new MemoryRedis();
/** A port nothing listens on: a memory broker that opened a socket would fail. */
const CLOSED_PORT_URL = 'redis://127.0.0.1:1';

export const memoryTarget: RedisTarget = {
  name: 'memory',
  can: (capability) => !(capability in MEMORY_CANNOT),
  url: CLOSED_PORT_URL,
  makeBroker: (options = {}) => {
    const broker = new RedisBroker(CLOSED_PORT_URL, { ...defaults, ...options });
    new TestRedisBroker(broker, { redis: memory });
    return track(broker);
  },
  rawClient: () => memoryClient(memory),
};

/** Every topology a behaviour suite runs against. */
export const targets: readonly RedisTarget[] = [memoryTarget, singleTarget, clusterTarget];
/** The topologies with real Redis processes. */
export const realTargets: readonly RedisTarget[] = [singleTarget, clusterTarget];

/**
 * The ioredis methods the suites use, answered by the in-memory Redis: `xlen(k)` runs XLEN,
 * `xrangeBuffer(…)` keeps bulk strings as Buffers, `on`/`subscribe` act as a subscriber.
 */
function memoryClient(redis: MemoryRedis): RawClient {
  let subscriber: MemorySubscriber | undefined;
  const sub = (): MemorySubscriber => (subscriber ??= new MemorySubscriber(redis));
  const client = new Proxy({}, {
    get: (_target, property) => {
      const name = String(property);
      if (name === 'then') return undefined;
      if (name === 'quit') return () => Promise.resolve(subscriber?.quit() ?? 'OK');
      if (name === 'on') return (event: 'messageBuffer', listener: (c: Buffer, p: Buffer) => void) => sub().on(event, listener);
      if (name === 'subscribe') return (...channels: string[]) => sub().call('subscribe', ...channels);
      const binary = name.endsWith('Buffer');
      const command = (binary ? name.slice(0, -'Buffer'.length) : name).toUpperCase();
      return async (...args: Array<string | Buffer | number>) => {
        const reply = await redis.execute(command, args);
        return binary ? reply : asText(reply);
      };
    },
  });
  return client as RawClient;
}

/** A single-node broker that is closed after the test. */
export const makeBroker = singleTarget.makeBroker;
/** A plain single-node client, closed after the test. */
export const rawClient = singleTarget.rawClient;

/** Collects values and lets a test wait for them, failing after a timeout instead of sleeping. */
export class Inbox<T> {
  readonly items: T[] = [];
  readonly #waiters: Array<{ count: number; resolve: () => void }> = [];

  push = (item: T): void => {
    this.items.push(item);
    for (const waiter of [...this.#waiters]) {
      if (this.items.length >= waiter.count) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  };

  /** Resolves with the first `count` items once they arrived. */
  async take(count: number, timeout = 5000): Promise<T[]> {
    if (this.items.length < count) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`Only ${this.items.length} of ${count} items arrived within ${timeout} ms`)), timeout);
        this.#waiters.push({ count, resolve: () => (clearTimeout(timer), resolve()) });
      });
    }
    return this.items.slice(0, count);
  }

  #cursor = 0;

  /** Resolves with the oldest item `next()` has not returned yet. */
  async next(timeout = 5000): Promise<T> {
    const index = this.#cursor;
    this.#cursor += 1;
    await this.take(index + 1, timeout);
    return this.items[index]!;
  }
}

/** A logger that records what it is told, for tests that check what is logged. */
export function recordingLogger(): Logger & { lines: Array<{ level: string; message: string; context: Record<string, unknown> }> } {
  const lines: Array<{ level: string; message: string; context: Record<string, unknown> }> = [];
  const at = (level: string) => (context: Record<string, unknown>, message: string) => void lines.push({ level, message, context });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** Resolves when `predicate` holds, polling Redis-side state every 20 ms; fails after `timeout`. */
export async function eventually(predicate: () => Promise<boolean> | boolean, timeout = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
