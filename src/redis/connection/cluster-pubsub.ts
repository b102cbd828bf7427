import { Redis, type Cluster } from 'ioredis';
import type { Logger } from '../../core/logger.js';
import { slotOf } from '../hashtag.js';
import type { ConnectionConfig } from '../options.js';
import { closeClient, connectClient, type NodeOptions } from './client.js';
import { refreshSlots, splitAddress } from './routed.js';
import type { SubscriberClient } from './strategy.js';

type ClassicKind = 'subscribe' | 'psubscribe';
type MessageEvent = 'messageBuffer' | 'pmessageBuffer';
type Listener = (...args: Buffer[]) => void;

const UNSUBSCRIBE: Record<string, ClassicKind> = { unsubscribe: 'subscribe', punsubscribe: 'psubscribe' };

/** One node's connection for classic Pub/Sub. */
interface NodeSubscriber {
  readonly address: string;
  readonly ready: Promise<Redis>;
}

/**
 * The Pub/Sub side of a cluster broker. Sharded subscriptions go through ioredis's Cluster (one
 * connection per shard). Classic ones are subscribed on the master that owns the channel name's
 * slot, which is where redstream publishes them (routed as if the name were a key): a message then
 * goes from publisher to subscriber through one node instead of crossing the cluster bus. PUBLISH
 * reaches every node, so a subscription is right wherever it is; it moves only when its connection
 * is lost (a failover, a restart), to the slot's owner as the cluster then says. Patterns are
 * placed the same way, by the pattern's slot. At most one connection per master.
 */
export class ClusterSubscriber implements SubscriberClient {
  readonly #sharded: Cluster;
  readonly #slots: Cluster;
  readonly #options: NodeOptions;
  readonly #config: ConnectionConfig;
  readonly #logger: Logger;
  readonly #nodes = new Map<string, NodeSubscriber>();
  /** Every classic subscription (`kind name`), and the node it is on; undefined while it moves. */
  readonly #placed = new Map<string, NodeSubscriber | undefined>();
  readonly #listeners: Record<MessageEvent, Listener[]> = { messageBuffer: [], pmessageBuffer: [] };
  #closed = false;

  constructor(sharded: Cluster, slots: Cluster, options: NodeOptions, config: ConnectionConfig, logger: Logger) {
    this.#sharded = sharded;
    this.#slots = slots;
    this.#options = options;
    this.#config = config;
    this.#logger = logger;
  }

  get status(): string {
    return this.#closed ? 'end' : this.#sharded.status;
  }

  on(event: 'messageBuffer' | 'smessageBuffer' | 'pmessageBuffer', listener: Listener): this {
    if (event === 'smessageBuffer') this.#sharded.on(event, listener);
    else this.#listeners[event].push(listener);
    return this;
  }

  async call(command: string, ...args: Array<string | Buffer | number>): Promise<unknown> {
    const name = String(args[0]);
    switch (command) {
      case 'subscribe':
      case 'psubscribe':
        return this.#subscribe(command, name);
      case 'unsubscribe':
      case 'punsubscribe':
        return this.#unsubscribe(command, UNSUBSCRIBE[command]!, name);
      default:
        return this.#sharded.call(command, ...args);
    }
  }

  quit(): Promise<unknown> {
    this.disconnect();
    return Promise.resolve('OK');
  }

  disconnect(): void {
    this.#closed = true;
    const nodes = [...this.#nodes.values()];
    this.#nodes.clear();
    this.#placed.clear();
    for (const node of nodes) void node.ready.then((client) => closeClient(client, true), () => undefined);
    this.#sharded.disconnect();
  }

  async #subscribe(kind: ClassicKind, name: string): Promise<unknown> {
    const id = `${kind} ${name}`;
    const node = this.#node(this.#ownerOf(name));
    this.#placed.set(id, node);
    try {
      return await (await node.ready).call(kind, name);
    } catch (error) {
      if (this.#placed.get(id) === node) this.#placed.delete(id);
      throw error;
    }
  }

  async #unsubscribe(command: string, kind: ClassicKind, name: string): Promise<unknown> {
    const id = `${kind} ${name}`;
    const node = this.#placed.get(id);
    this.#placed.delete(id);
    // Not subscribed, or moving (its connection was lost): nothing to tell Redis.
    if (!node) return 0;
    const client = await node.ready.catch(() => undefined);
    return client?.status === 'ready' ? client.call(command, name) : 0;
  }

  /** The master that owns `name`'s slot, as `host:port` (any master while the slot map is empty). */
  #ownerOf(name: string): string {
    const owner = this.#slots.slots[slotOf(name)]?.[0];
    if (owner) return owner;
    const [any] = this.#slots.nodes('master');
    return any ? `${any.options.host}:${any.options.port}` : `${this.#config.host}:${this.#config.port}`;
  }

  #node(address: string): NodeSubscriber {
    const existing = this.#nodes.get(address);
    if (existing) return existing;
    const node: NodeSubscriber = { address, ready: this.#connect(address) };
    this.#nodes.set(address, node);
    node.ready.catch(() => {
      if (this.#nodes.get(address) === node) this.#nodes.delete(address);
    });
    return node;
  }

  async #connect(address: string): Promise<Redis> {
    const [host, port] = splitAddress(address);
    // No reconnects of its own: a lost node means asking the cluster where the slots are now.
    const client = new Redis({ ...this.#options, host, port, retryStrategy: () => null, lazyConnect: true });
    for (const event of ['messageBuffer', 'pmessageBuffer'] as const) {
      client.on(event, (...args: Buffer[]) => {
        for (const listener of this.#listeners[event]) listener(...args);
      });
    }
    client.on('error', (error: Error) => this.#logger.debug({ node: address, err: error }, `Pub/Sub connection to ${address}: ${error.message}`));
    await connectClient(client, address);
    client.once('end', () => this.#lost(address));
    return client;
  }

  /** A node's connection ended: its subscriptions move to where their slots are now, with back-off. */
  #lost(address: string): void {
    const node = this.#nodes.get(address);
    if (this.#closed || !node) return;
    this.#nodes.delete(address);
    const moving = [...this.#placed].filter(([, on]) => on === node).map(([id]) => id);
    if (moving.length === 0) return;
    for (const id of moving) this.#placed.set(id, undefined);
    this.#logger.warn({ node: address, subscriptions: moving.length }, `Pub/Sub connection to ${address} lost; subscribing its ${moving.length} channel(s) again where their slots are now.`);
    void this.#resubscribe(moving, 0);
  }

  async #resubscribe(ids: readonly string[], attempt: number): Promise<void> {
    const delay = this.#config.retryStrategy(attempt + 1);
    if (delay === null) {
      this.#logger.error({ subscriptions: ids.length }, `Pub/Sub: gave up subscribing ${ids.length} channel(s) again (retryStrategy returned null); they receive nothing until the broker restarts.`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    if (this.#closed) return;
    await refreshSlots(this.#slots);
    const failed: string[] = [];
    await Promise.all(
      ids.map(async (id) => {
        // Unsubscribed while it was moving: nothing to do.
        if (!this.#placed.has(id) || this.#placed.get(id) !== undefined || this.#closed) return;
        const at = id.indexOf(' ');
        await this.#subscribe(id.slice(0, at) as ClassicKind, id.slice(at + 1)).catch(() => {
          if (!this.#placed.has(id)) this.#placed.set(id, undefined);
          failed.push(id);
        });
      }),
    );
    if (this.#closed) return;
    if (failed.length > 0) void this.#resubscribe(failed, attempt + 1);
    else this.#logger.info({ subscriptions: ids.length }, `Pub/Sub: ${ids.length} channel(s) subscribed again.`);
  }
}
