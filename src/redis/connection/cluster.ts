import { Cluster, type ClusterOptions, type Redis } from 'ioredis';
import { NotConnectedError, SetupError } from '../../core/errors.js';
import { Opening } from '../../core/opening.js';
import type { Logger } from '../../core/logger.js';
import { doorbellOf, sameSlot, slotOf } from '../hashtag.js';
import type { ConnectionConfig } from '../options.js';
import { closeClient, execAtomic, nodeOptions, reportErrors } from './client.js';
import { sendFramed, TickCork, unreachable, type ErrorMapper } from './framed.js';
import { ClusterSubscriber } from './cluster-pubsub.js';
import { ReaderConnection } from './reader.js';
import { refreshSlots, RoutedConnection } from './routed.js';
import { sendEach, type BlockingConnection, type CommandClient, type ConnectionStrategy, type QueuedCommand, type SharedReading, type SubscriberClient } from './strategy.js';

/** Commands that write to a stream or a list, after which the key's doorbell rings. */
const WRITES = new Set(['XADD', 'RPUSH', 'LPUSH']);

/**
 * How long a writer that heard a doorbell ring to no listener rings it no more (ms): writes in
 * between are rung for once, at the end. A reader that subscribes meanwhile waits that much
 * longer for its ring, at most; a busy reader (which lets its doorbell go) and a key that nobody
 * reads through redstream cost Redis one ring per interval instead of one per write.
 */
const HUSH_MS = 1;

/** A cluster node to discover the cluster from, besides the broker's own host and port. */
export type StartupNode = readonly [host: string, port: number];

/**
 * Redis Cluster: one ioredis Cluster (slot-routed, follows MOVED/ASK) for commands, which rings
 * the doorbells after writes; a second Cluster for sharded Pub/Sub and the readers' shared reads;
 * classic Pub/Sub on the master of each channel's slot (see ClusterSubscriber); a routed connection
 * per reader with `dedicatedConnection`, to the master owning its key; pipelines split by owning
 * node and sent in parallel.
 */
export class ClusterStrategy implements ConnectionStrategy {
  readonly address: string;
  readonly shardedReplies = true;
  readonly #config: ConnectionConfig;
  readonly #seeds: Array<{ host: string; port: number }>;
  readonly #logger: Logger;
  readonly #clusters = new Set<Cluster>();
  readonly #readers = new Set<RoutedConnection>();
  readonly #subscribers = new Set<ClusterSubscriber>();
  readonly #mapError: ErrorMapper;
  #command: Cluster | undefined;
  readonly #listener = new Opening<Cluster>();
  readonly #cork = new TickCork(() => this.#command?.nodes('master').map((node) => node.stream) ?? []);
  readonly commands: CommandClient = {
    send: (command, key, args) => {
      const cluster = this.#commandCluster();
      this.#cork.hold();
      const reply = sendFramed(cluster, command, args, key === '' ? undefined : slotOf(key), this.#mapError);
      if (WRITES.has(command)) this.#ring(cluster, key);
      return reply;
    },
  };
  /** Keys whose doorbell rang this tick (one ring per key and tick, however many writes). */
  readonly #rung = new Set<string>();
  /** Keys whose last ring reached nobody: until when they stay silent, and whether a write since wants a ring. */
  readonly #hushed = new Map<string, { until: number; owed: boolean }>();
  #hushTimer: NodeJS.Timeout | undefined;
  readonly #hushMs: number;
  readonly #reader: ReaderConnection<Cluster>;
  readonly shared: SharedReading;

  constructor(config: ConnectionConfig, startupNodes: readonly StartupNode[], logger: Logger, hushMs = HUSH_MS) {
    this.#config = config;
    this.#hushMs = hushMs;
    this.#logger = logger;
    // The URL's (or explicit) host and port come first; the rest of the cluster is discovered.
    this.#seeds = [{ host: config.host, port: config.port }, ...startupNodes.map(([host, port]) => ({ host, port }))];
    this.address = `cluster ${this.#seeds.map((s) => `${s.host}:${s.port}`).join(', ')}`;
    this.#mapError = unreachable(this.address, config.commandRetries);
    this.#reader = new ReaderConnection<Cluster>({
      // Keys spread over hash slots, which no blocking command spans: readers are woken by doorbells.
      wakeup: 'doorbell',
      open: () => {
        this.#commandCluster();
        return this.#listening();
      },
      watch: (cluster, lost) => {
        const watch = (node: Redis): void => void node.on('close', lost);
        for (const node of cluster.nodes('all')) watch(node);
        cluster.on('+node', watch);
      },
      sockets: (cluster) => cluster.nodes('master').map((node) => node.stream),
      slot: (key) => slotOf(key),
      mapError: this.#mapError,
      stalled: async () => {
        // Every Cluster this strategy opened (commands, reads, Pub/Sub) looks again.
        await Promise.all([...this.#clusters].map((cluster) => refreshSlots(cluster)));
      },
    });
    this.shared = this.#reader;
  }

  async connect(): Promise<void> {
    if (this.#command) return;
    this.#command = await this.#open('command');
  }

  async openBlocking(key: string): Promise<BlockingConnection> {
    const reader = new RoutedConnection(this.#commandCluster(), key, nodeOptions(this.#config, 'blocking'), this.#logger);
    await reader.open();
    this.#readers.add(reader);
    return {
      send: (command, args) => reader.send(command, args),
      interrupt: () => reader.interrupt(),
      reset: () => reader.reset(),
      close: async (force) => {
        this.#readers.delete(reader);
        await reader.close(force);
      },
      get reconnects() {
        return reader.reconnects;
      },
    };
  }

  async openSubscriber(): Promise<SubscriberClient> {
    const sharded = await this.#listening();
    const subscriber = new ClusterSubscriber(sharded, this.#commandCluster(), nodeOptions(this.#config, 'subscriber'), this.#config, this.#logger);
    this.#subscribers.add(subscriber);
    return subscriber;
  }

  atomicAcross(keys: readonly string[]): boolean {
    return sameSlot(...keys);
  }

  async exec(commands: readonly QueuedCommand[], atomic: boolean): Promise<unknown[]> {
    if (!atomic) return sendEach(this.commands, commands);
    const cluster = this.#commandCluster();
    const keys = [...new Set(commands.map((c) => c.key))];
    if (!sameSlot(...keys)) {
      throw new SetupError(
        `An atomic pipeline on a cluster needs every key in one hash slot; ${keys.map((k) => `"${k}"`).join(', ')} are not. ` +
          'Give them a common hash tag, e.g. "{orders}" and "{orders}:audit" (see withHashTag()), or drop `atomic`.',
      );
    }
    const replies = await execAtomic(cluster, commands);
    for (const command of commands) if (WRITES.has(command.name)) this.#ring(cluster, command.key);
    return replies;
  }

  async close(): Promise<void> {
    // Rings still owed go out before the connection closes.
    clearTimeout(this.#hushTimer);
    const owed = [...this.#hushed].filter(([, hush]) => hush.owed).map(([key]) => key);
    this.#hushed.clear();
    const command = this.#command;
    if (command) await Promise.all(owed.map((key) => this.#ringNow(command, key)));
    const readers = [...this.#readers];
    const clusters = [...this.#clusters];
    for (const subscriber of this.#subscribers) subscriber.disconnect();
    this.#subscribers.clear();
    this.#readers.clear();
    this.#clusters.clear();
    this.#command = undefined;
    void this.#listener.forget();
    this.#reader.forget();
    await Promise.all(readers.map((reader) => reader.close(true)));
    await Promise.all(clusters.map((cluster) => closeClient(cluster)));
  }

  /**
   * Rings `key`'s doorbell (see SharedReading): an SPUBLISH in the key's slot, sent right behind
   * the write on the same connection, so a reader it wakes finds what was written. A ring that
   * reached no subscriber hushes the key for a moment (see HUSH_MS).
   */
  #ring(cluster: Cluster, key: string): void {
    if (this.#rung.has(key)) return;
    const hush = this.#hushed.get(key);
    if (hush) {
      hush.owed = true;
      return;
    }
    void this.#ringNow(cluster, key);
  }

  async #ringNow(cluster: Cluster, key: string): Promise<void> {
    const channel = doorbellOf(key);
    if (channel === undefined) return;
    if (this.#rung.size === 0) process.nextTick(() => this.#rung.clear());
    this.#rung.add(key);
    const listeners = await sendFramed(cluster, 'SPUBLISH', [channel, key], slotOf(key)).catch(() => undefined);
    if (listeners === 0 && this.#hushMs > 0 && this.#command === cluster) this.#hush(key);
  }

  #hush(key: string): void {
    if (this.#hushed.has(key)) return;
    this.#hushed.set(key, { until: performance.now() + this.#hushMs, owed: false });
    this.#hushTimer ??= setTimeout(() => this.#unhush(), this.#hushMs);
  }

  /** Ends the hushes that are over (the map is in the order they end), ringing where writes came meanwhile. */
  #unhush(): void {
    this.#hushTimer = undefined;
    const now = performance.now();
    for (const [key, hush] of this.#hushed) {
      if (hush.until > now) {
        this.#hushTimer = setTimeout(() => this.#unhush(), hush.until - now);
        return;
      }
      this.#hushed.delete(key);
      if (hush.owed && this.#command) this.#ring(this.#command, key);
    }
  }

  /**
   * The Cluster for sharded Pub/Sub (its subscriber connections, one per shard) and for the
   * readers' shared reads (its per-node connections, which it otherwise uses only to learn the
   * slot map): one per master besides the command connection, not two.
   */
  #listening(): Promise<Cluster> {
    return this.#listener.get(() => this.#open('subscriber'));
  }

  #commandCluster(): Cluster {
    if (!this.#command) throw new NotConnectedError(`Not connected to Redis at ${this.address}: connect() first.`);
    return this.#command;
  }

  async #open(role: 'command' | 'subscriber'): Promise<Cluster> {
    const options = {
      redisOptions: nodeOptions(this.#config, role),
      lazyConnect: true,
      enableAutoPipelining: role === 'command',
      scaleReads: 'master',
      shardedSubscribers: role === 'subscriber',
      // Ride out a failover (node timeout + election) instead of failing commands in the middle of it.
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 200,
      retryDelayOnTryAgain: 200,
      maxRedirections: 64,
      slotsRefreshTimeout: 2000,
      clusterRetryStrategy: (attempt: number) => this.#config.retryStrategy(attempt),
    } satisfies ClusterOptions;
    const cluster = new Cluster(this.#seeds, options);
    this.#clusters.add(cluster);
    reportErrors(cluster, this.#logger, `Redis Cluster (${role})`, role);
    // ioredis reports only "None of startup nodes is available"; keep what the nodes said.
    let nodeError: string | undefined;
    const onNodeError = (error: Error, node: string): void => {
      nodeError = `${node}: ${error.message}`;
    };
    cluster.on('node error', onNodeError);
    try {
      await cluster.connect();
    } catch (error) {
      this.#clusters.delete(cluster);
      cluster.disconnect();
      throw notConnected(this.address, error, nodeError);
    } finally {
      cluster.off('node error', onNodeError);
    }
    return cluster;
  }
}

function notConnected(address: string, cause: unknown, nodeError: string | undefined): Error {
  if (nodeError?.includes('cluster support disabled')) {
    const node = nodeError.slice(0, nodeError.indexOf(': '));
    return new NotConnectedError(
      `${node} is not a Redis Cluster node (cluster support is disabled on it). For a single server use RedisBroker, ` +
        'for a Sentinel-managed set RedisSentinelBroker; RedisClusterBroker needs cluster-enabled nodes.',
      { cause },
    );
  }
  const message = (cause instanceof Error ? cause.message : String(cause)) + (nodeError === undefined ? '' : ` (${nodeError})`);
  return new NotConnectedError(`Cannot connect to Redis at ${address}: ${message}. Check the broker's url, startupNodes, tls and credentials.`, { cause });
}
