import { Cluster, type ClusterOptions, type Redis } from 'ioredis';
import { NotConnectedError, SetupError } from '../../core/errors.js';
import { Opening } from '../../core/opening.js';
import type { Logger } from '../../core/logger.js';
import { doorbellOf, doorbellTiming, sameSlot, slotOf } from '../hashtag.js';
import type { ConnectionConfig } from '../options.js';
import { closeClient, execAtomic, nodeOptions, reportErrors } from './client.js';
import { sendFramed, TickCork, unreachable, type ErrorMapper } from './framed.js';
import { ClusterSubscriber } from './cluster-pubsub.js';
import { ReaderConnection } from './reader.js';
import { refreshSlots, RoutedConnection } from './routed.js';
import { sendEach, type BlockingConnection, type CommandClient, type ConnectionStrategy, type QueuedCommand, type SharedReading, type SubscriberClient } from './strategy.js';

/** Commands that write to a stream or a list, after which the key's doorbell rings. */
const WRITES = new Set(['XADD', 'RPUSH', 'LPUSH']);

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
  /** Keys whose last ring reached nobody, and until when (performance.now()) they are not rung; oldest first. */
  readonly #hushed = new Map<string, number>();
  readonly #reader: ReaderConnection<Cluster>;
  readonly shared: SharedReading;

  constructor(config: ConnectionConfig, startupNodes: readonly StartupNode[], logger: Logger) {
    this.#config = config;
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
    this.#hushed.clear();
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
   * reached no subscriber hushes the key for `doorbellTiming.hushMs`: a busy reader (which lets its
   * doorbell go) or a key nobody reads through redstream then costs Redis one ring per interval
   * instead of one per write, and a reader that subscribes meanwhile reads again by itself within
   * twice the interval (see DoorbellTicket).
   */
  #ring(cluster: Cluster, key: string): void {
    if (this.#rung.has(key)) return;
    if (this.#hushed.size > 0) {
      const until = this.#hushed.get(key);
      if (until !== undefined) {
        if (performance.now() < until) return;
        this.#hushed.delete(key);
      }
    }
    const channel = doorbellOf(key);
    if (channel === undefined) return;
    if (this.#rung.size === 0) process.nextTick(() => this.#rung.clear());
    this.#rung.add(key);
    const until = performance.now() + doorbellTiming.hushMs;
    sendFramed(cluster, 'SPUBLISH', [channel, key], slotOf(key)).then(
      (listeners) => {
        if (listeners === 0 && this.#command === cluster) this.#hush(key, until);
      },
      () => undefined,
    );
  }

  #hush(key: string, until: number): void {
    const now = performance.now();
    if (until <= now) return;
    // Hushes that are over go first (oldest first), so keys written once do not pile up.
    for (const [hushed, end] of this.#hushed) {
      if (end > now) break;
      this.#hushed.delete(hushed);
    }
    this.#hushed.delete(key);
    this.#hushed.set(key, until);
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
