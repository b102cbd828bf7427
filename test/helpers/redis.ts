import { readFileSync } from 'node:fs';
import { Cluster, Redis } from 'ioredis';
import { afterEach } from 'vitest';
import { RedisBroker, RedisClusterBroker, RedisSentinelBroker, type Logger, type RedisBrokerOptions } from '../../src/index.js';
import { MemoryRedis, TestRedisBroker } from '../../src/testing/index.js';
import { asText, MemorySubscriber } from '../../src/testing/memory/strategy.js';
import { deleteTestKeysAfterFile } from './keys.js';
import { projectNeeds, projectTargets, redisTargets, SECURE_PORTS, SENTINEL_SETS, type RedisName, type SentinelSet } from './targets.js';
import { Inbox } from './wait.js';

export { uid } from './keys.js';

const topology = redisTargets();
export const SINGLE_URL = topology.single.url;
export const CLUSTER_URL = topology.cluster.url;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  const pending = cleanups.splice(0);
  await Promise.all(pending.map((cleanup) => cleanup().catch(() => undefined)));
});

export type RawClient = Redis | Cluster;

/** One Redis topology the behaviour suites run against; only the broker factory differs. */
export interface RedisTarget {
  readonly name: 'single' | 'cluster' | 'sentinel' | 'memory';
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
  url: SINGLE_URL,
  makeBroker: (options = {}) => track(new RedisBroker(SINGLE_URL, { ...defaults, ...options })),
  rawClient: () => track(new Redis(SINGLE_URL, { protocol: 2 })),
};

export const clusterTarget: RedisTarget = {
  name: 'cluster',
  url: CLUSTER_URL,
  makeBroker: (options = {}) => track(new RedisClusterBroker(CLUSTER_URL, { ...defaults, ...options })),
  rawClient: () => {
    const { hostname, port } = new URL(CLUSTER_URL);
    return track(new Cluster([{ host: hostname, port: Number(port) }], { redisOptions: { protocol: 2 } }));
  },
};

/** A client of the master a Sentinel set names (and follows, after a failover). */
export function sentinelClient(set: SentinelSet, options: Record<string, unknown> = {}): Redis {
  return new Redis({ sentinels: set.sentinels.map(([host, port]) => ({ host, port })), name: set.masterName, protocol: 2, ...options });
}

/** Options of a broker on a Sentinel set. */
export function sentinelOptions(set: SentinelSet): { sentinels: SentinelSet['sentinels']; sentinelMasterName: string } {
  return { sentinels: set.sentinels, sentinelMasterName: set.masterName };
}

export const sentinelTarget: RedisTarget = {
  name: 'sentinel',
  // The sentinels say where the master is: the URL's host and port are not used.
  url: 'redis://sentinel-master/0',
  makeBroker: (options = {}) => track(new RedisSentinelBroker('redis://sentinel-master/0', { ...defaults, ...sentinelOptions(SENTINEL_SETS.sentinel), ...options })),
  rawClient: () => track(sentinelClient(SENTINEL_SETS.sentinel)),
};

/** One in-memory Redis per test process, shared by its brokers like a real server. */
const memory = new MemoryRedis();
/** A port nothing listens on: a memory broker that opened a socket would fail. */
const CLOSED_PORT_URL = 'redis://127.0.0.1:1';

export const memoryTarget: RedisTarget = {
  name: 'memory',
  url: CLOSED_PORT_URL,
  makeBroker: (options = {}) => {
    const broker = new RedisBroker(CLOSED_PORT_URL, { ...defaults, ...options });
    new TestRedisBroker(broker, { redis: memory });
    return track(broker);
  },
  rawClient: () => memoryClient(memory),
};

/**
 * The topologies a behaviour suite runs against in this Vitest project (`REDSTREAM_TARGETS`, set
 * per project in vitest.config.ts: one each for memory, single and cluster).
 */
export const targets: readonly RedisTarget[] = [memoryTarget, singleTarget, clusterTarget, sentinelTarget].filter((t) => projectTargets().includes(t.name));
/**
 * Those of them with real Redis processes: for what the in-memory Redis cannot have (sockets to
 * count, nodes to be unreachable, other processes to reach it). The memory project then has no
 * such test at all, rather than skipped ones.
 */
export const realTargets: readonly RedisTarget[] = targets.filter((t) => t.name !== 'memory');

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

export interface LogLine {
  readonly level: string;
  readonly message: string;
  readonly context: Record<string, unknown>;
}

/** A logger that records what it is told; `line(match)` waits for a line to be logged. */
export function recordingLogger(): Logger & { lines: readonly LogLine[]; line: (match: (line: LogLine) => boolean, what?: string) => Promise<LogLine> } {
  const inbox = new Inbox<LogLine>();
  const at = (level: string) => (context: Record<string, unknown>, message: string) => inbox.push({ level, message, context });
  return {
    lines: inbox.items,
    line: (match, what = 'a matching log line') => inbox.find(match, 5000, what),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  };
}

// Every key a test names with uid() is deleted after its file, on each Redis this project uses.
const SECURE_DIR = process.env['REDSTREAM_REDIS_DIR'] ?? '/tmp/redstream-redis';
const secureOptions = (): { username: string; password: string; tls: { ca: Buffer } } => ({
  username: 'redstream-app',
  password: 'redstream-test-secret',
  tls: { ca: readFileSync(`${SECURE_DIR}/tls/ca.crt`) },
});
const clusterClient = (host: string, port: number, redisOptions: Partial<ReturnType<typeof secureOptions>> = {}): Cluster =>
  new Cluster([{ host, port }], { lazyConnect: true, redisOptions: { ...redisOptions, maxRetriesPerRequest: 2 } });
const keyspaces: Record<RedisName, () => Redis | Cluster> = {
  single: () => new Redis(SINGLE_URL, { lazyConnect: true, maxRetriesPerRequest: 2 }),
  cluster: () => clusterClient(topology.cluster.host, topology.cluster.port),
  chaos: () => clusterClient(topology.chaos.host, topology.chaos.port),
  'tls-single': () => new Redis({ host: '127.0.0.1', port: SECURE_PORTS['tls-single'][0], lazyConnect: true, maxRetriesPerRequest: 2, ...secureOptions() }),
  'tls-cluster': () => clusterClient('127.0.0.1', SECURE_PORTS['tls-cluster'][0], secureOptions()),
  sentinel: () => sentinelClient(SENTINEL_SETS.sentinel, { lazyConnect: true, maxRetriesPerRequest: 2 }),
  'sentinel-chaos': () => sentinelClient(SENTINEL_SETS['sentinel-chaos'], { lazyConnect: true, maxRetriesPerRequest: 2 }),
  'tls-sentinel': () =>
    sentinelClient(SENTINEL_SETS['tls-sentinel'], {
      lazyConnect: true,
      maxRetriesPerRequest: 2,
      ...secureOptions(),
      enableTLSForSentinelMode: true,
      sentinelUsername: 'redstream-sentinel',
      sentinelPassword: 'redstream-sentinel-secret',
      sentinelTLS: { ca: secureOptions().tls.ca },
    }),
};
deleteTestKeysAfterFile(projectNeeds().map((name) => keyspaces[name]));
