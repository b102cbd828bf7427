import type { LeaseStore } from '../subscriber/leases.js';

/**
 * The connection strategy is the only code that knows the topology (single node, cluster,
 * Sentinel). Subscribers, the producer and the RPC inbox talk to Redis only through it.
 */

/** One Redis command: its name, the key that routes it (on a cluster), and every argument (the key included). */
export interface QueuedCommand {
  readonly name: string;
  readonly key: string;
  readonly args: ReadonlyArray<string | Buffer | number>;
}

/** A connection owned by one blocking reader (BLPOP, XREAD BLOCK), so it never stalls another. */
export interface BlockingConnection {
  /** Sends a command and returns the raw reply with bulk strings as Buffers. */
  send(command: string, args: ReadonlyArray<string | Buffer | number>): Promise<unknown>;
  /** Ends a blocked read early as if it timed out (CLIENT UNBLOCK … TIMEOUT): nothing read is lost. */
  interrupt(): Promise<void>;
  /** Drops the socket and reconnects (to the key's current owner on a cluster); a pending read fails. */
  reset(): Promise<void>;
  /** Closes after the current command; `force` drops the socket at once. */
  close(force?: boolean): Promise<void>;
  /**
   * How often the connection was re-established since it opened. A reply that arrives after a
   * reconnect may follow one that was lost with the old connection (a group read's entries are
   * then pending, unseen): a reader compares the count before and after a read.
   */
  readonly reconnects: number;
}

/** The part of a Redis client the producer and subscribers use for non-blocking commands. */
export interface CommandClient {
  /**
   * Sends a command (auto-pipelined) and returns the reply, bulk strings decoded as UTF-8.
   * `key` routes it on a cluster; `args` is the whole argument list, the key included.
   */
  send(command: string, key: string, args: ReadonlyArray<string | Buffer | number>): Promise<unknown>;
}

/**
 * Everything a broker does with Redis goes through one strategy object per topology. What differs
 * between topologies is asked of the strategy (routing by key, atomicity, how replies travel),
 * never decided by flags elsewhere.
 */
export interface ConnectionStrategy {
  /** A human label of where Redis is, for errors and logs (never a credential). */
  readonly address: string;
  /**
   * Whether a requester should also listen on a sharded channel and ask redstream responders to
   * answer with SPUBLISH (a cluster: a classic PUBLISH is sent to every node over the cluster bus).
   */
  readonly shardedReplies: boolean;
  /** Opens the shared, auto-pipelined command connection; resolves when it is ready. */
  connect(): Promise<void>;
  readonly commands: CommandClient;
  /** Opens a dedicated connection for one blocking reader of `key`. */
  openBlocking(key: string): Promise<BlockingConnection>;
  /** Opens a connection for SUBSCRIBE / PSUBSCRIBE / SSUBSCRIBE. */
  openSubscriber(): Promise<SubscriberClient>;
  /**
   * What list and stream readers that share connections need (see subscriber/shared.ts);
   * undefined when every reader gets a connection of its own (the in-memory test broker).
   */
  readonly shared?: SharedReading;
  /**
   * Where the leases of a partitioned stream's group live, when not in Redis through scripts (the
   * in-memory test broker keeps them in its own store).
   */
  leases?(stream: string, group: string): LeaseStore;
  /** Whether one MULTI/EXEC can cover all these keys (always on one node; one hash slot on a cluster). */
  atomicAcross(keys: readonly string[]): boolean;
  /** Sends queued commands in one round trip (per node); results in call order, errors as Error values. */
  exec(commands: readonly QueuedCommand[], atomic: boolean): Promise<unknown[]>;
  /** Closes every connection this strategy opened. */
  close(): Promise<void>;
}

/**
 * How readers share the command connection. An idle reader waits to be woken; what wakes it
 * depends on the topology:
 *   - `lanes`: one server holds every key, so one blocking command (XREADGROUP over many streams
 *     for one group and consumer, BLMPOP over many lists) waits for all idle readers at once;
 *   - `doorbell`: keys live in different hash slots, which no blocking command can span. The
 *     strategy rings a sharded Pub/Sub doorbell in the key's slot after each write to a stream
 *     or list, and readers also poll now and then for writers that ring none.
 */
export interface SharedReading {
  readonly wakeup: 'lanes' | 'doorbell';
  /** Opens the connection reads go on (once); readers call it as they start. */
  open(): Promise<void>;
  /** A non-blocking command on the readers' shared connection; bulk strings come back as Buffers. */
  read(command: string, key: string, args: ReadonlyArray<string | Buffer | number>): Promise<unknown>;
  /**
   * How often a command connection was lost since it opened: a read sent before a loss may have
   * been answered into the void (see BlockingConnection.reconnects).
   */
  readonly losses: number;
  /** A read got no answer for long (a frozen node): find where keys live again (a cluster's slot map). */
  stalled(): Promise<void>;
}

/**
 * A connection (or, on a cluster, a set of them) in subscriber mode: an ioredis Redis or Cluster,
 * or the in-memory one of redstream/testing.
 */
export interface SubscriberClient {
  call(command: string, ...args: Array<string | Buffer | number>): Promise<unknown>;
  on(event: 'messageBuffer' | 'smessageBuffer', listener: (channel: Buffer, payload: Buffer) => void): unknown;
  on(event: 'pmessageBuffer', listener: (pattern: Buffer, channel: Buffer, payload: Buffer) => void): unknown;
  readonly status: string;
  quit(): Promise<unknown>;
  disconnect(): void;
}

/**
 * Makes the strategy a broker talks through. A broker is given one per topology (single node,
 * cluster, Sentinel); `redstream/testing` gives it one that makes the in-memory strategy.
 */
export type StrategyFactory = () => ConnectionStrategy;

/**
 * A pipeline that needs no atomicity: every command goes out now, through `client` (whose sockets
 * stay corked until the next tick, so each node still gets the whole batch in one write). Each
 * command's reply, or its Error, in call order.
 */
export function sendEach(client: CommandClient, commands: readonly QueuedCommand[]): Promise<unknown[]> {
  return Promise.all(commands.map((command) => client.send(command.name, command.key, command.args).then(itself, itself)));
}

function itself(value: unknown): unknown {
  return value;
}
