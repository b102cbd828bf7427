import { Redis, type Cluster } from 'ioredis';
import { NotConnectedError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { slotOf } from '../hashtag.js';
import { closeClient, connectClient, type NodeOptions } from './client.js';
import type { BlockingConnection } from './strategy.js';

/** Replies and failures that mean "this node no longer serves the key": re-resolve the owner. */
const TOPOLOGY = /^(MOVED|UNBLOCKED|READONLY|CLUSTERDOWN|MASTERDOWN|LOADING|TRYAGAIN)\b|Connection is closed|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|isn't writeable/;

/** Whether an error means the key's node changed or went away, so the owner must be looked up again. */
export function isTopologyError(error: unknown): boolean {
  return error instanceof NotConnectedError || (error instanceof Error && TOPOLOGY.test(error.message));
}

/**
 * A blocking reader's own connection on a cluster: opened to the master that owns the key's slot,
 * and moved when the slot moves (MOVED), its master fails over (UNBLOCKED, READONLY, connection
 * lost) or the cluster is reconfiguring. One reader never shares it, so it never stalls another.
 */
export class RoutedConnection implements BlockingConnection {
  readonly #cluster: Cluster;
  readonly #slot: number;
  readonly #options: NodeOptions;
  readonly #logger: Logger;
  readonly #key: string;
  #client: Redis | undefined;
  #clientId: string | undefined;
  #address: string | undefined;
  #opening: Promise<Redis> | undefined;
  #closed = false;
  #opens = 0;

  constructor(cluster: Cluster, key: string, options: NodeOptions, logger: Logger) {
    this.#cluster = cluster;
    this.#key = key;
    this.#slot = slotOf(key);
    this.#options = options;
    this.#logger = logger;
  }

  /** Connections opened after the first (to the same node or, after a move, to another). */
  get reconnects(): number {
    return Math.max(0, this.#opens - 1);
  }

  /** Where it is connected now, as `host:port`. */
  get address(): string | undefined {
    return this.#address;
  }

  open(): Promise<Redis> {
    return this.#connect();
  }

  async send(command: string, args: ReadonlyArray<string | Buffer | number>): Promise<unknown> {
    const client = await this.#connect();
    try {
      return await client.callBuffer(command, ...args);
    } catch (error) {
      if (!isTopologyError(error) || this.#closed) throw error;
      const moved = /^MOVED \d+ (\S+)/.exec((error as Error).message);
      await this.reset(moved?.[1]);
      // A plain MOVED (resharding) is followed at once; anything else is retried by the reader's back-off.
      if (moved) return (await this.#connect()).callBuffer(command, ...args);
      throw error;
    }
  }

  async interrupt(): Promise<void> {
    const node = this.#node();
    if (node && this.#clientId) await node.call('CLIENT', 'UNBLOCK', this.#clientId, 'TIMEOUT').catch(() => undefined);
  }

  /** Drops the connection; the next command connects to `address`, or to the slot's owner as the cluster now sees it. */
  async reset(address?: string): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    this.#clientId = undefined;
    this.#address = address;
    if (client) await closeClient(client, true);
    if (address === undefined) await refreshSlots(this.#cluster);
  }

  async close(force = false): Promise<void> {
    this.#closed = true;
    const client = this.#client ?? (await this.#opening?.catch(() => undefined));
    this.#client = undefined;
    if (client) await closeClient(client, force);
  }

  #connect(): Promise<Redis> {
    if (this.#closed) return Promise.reject(new NotConnectedError(`The reader of "${this.#key}" was closed.`));
    if (this.#client?.status === 'ready') return Promise.resolve(this.#client);
    this.#opening ??= this.#open().finally(() => {
      this.#opening = undefined;
    });
    return this.#opening;
  }

  async #open(): Promise<Redis> {
    const address = this.#address ?? this.#owner();
    const [host, port] = splitAddress(address);
    // No reconnects of its own: a lost node means re-resolving the slot's owner instead.
    const client = new Redis({ ...this.#options, host, port, retryStrategy: () => null, lazyConnect: true });
    await connectClient(client, address);
    client.on('error', (error: Error) => this.#logger.debug({ subscriber: this.#key, err: error }, `Reader connection to ${address}: ${error.message}`));
    this.#clientId = String(await client.call('CLIENT', 'ID'));
    this.#client = client;
    this.#address = address;
    this.#opens += 1;
    return client;
  }

  #owner(): string {
    const owner = this.#cluster.slots[this.#slot]?.[0];
    if (!owner) throw new NotConnectedError(`No cluster node serves slot ${this.#slot} of "${this.#key}" right now.`);
    return owner;
  }

  #node(): Redis | undefined {
    return this.#cluster.nodes('all').find((node) => `${node.options.host}:${node.options.port}` === this.#address);
  }
}

/** Asks the cluster for its current slot map. */
export function refreshSlots(cluster: Cluster): Promise<void> {
  return new Promise((resolve) => cluster.refreshSlotsCache(() => resolve()));
}

/** Splits `host:port` at the last colon, so IPv6 hosts keep theirs. */
export function splitAddress(address: string): [string, number] {
  const at = address.lastIndexOf(':');
  return [address.slice(0, at), Number(address.slice(at + 1))];
}
