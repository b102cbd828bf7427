import { EventEmitter } from 'node:events';
import type { BlockingConnection, CommandClient, ConnectionStrategy, QueuedCommand, SubscriberClient } from '../../redis/connection/strategy.js';
import type { LeaseStore } from '../../redis/subscriber/leases.js';
import { ReplyError, type Arg } from './data.js';
import { MemoryLeaseStore, MemoryLeaseTable } from './leases.js';
import type { MemoryRedis, PubSubKind } from './redis.js';

/**
 * The in-memory connection strategy: the broker's commands, blocking readers and Pub/Sub all go
 * to a MemoryRedis. No socket is opened.
 */
export class MemoryStrategy implements ConnectionStrategy {
  readonly address = 'the in-memory Redis of redstream/testing';
  readonly shardedReplies = false;
  readonly redis: MemoryRedis;
  readonly commands: CommandClient;

  constructor(redis: MemoryRedis) {
    this.redis = redis;
    this.commands = { send: (command, _key, args) => settle(() => redis.execute(command, [...args])).then(asText) };
  }

  connect(): Promise<void> {
    return Promise.resolve();
  }

  openBlocking(): Promise<BlockingConnection> {
    const redis = this.redis;
    const clientId = redis.newClient();
    const unblock = (): Promise<void> => settle(() => redis.execute('CLIENT', ['UNBLOCK', clientId])).then(() => undefined);
    return Promise.resolve({
      send: (command, args) => settle(() => redis.execute(command, [...args], clientId)),
      interrupt: unblock,
      reset: unblock,
      close: unblock,
      reconnects: 0,
    });
  }

  openSubscriber(): Promise<SubscriberClient> {
    return Promise.resolve(new MemorySubscriber(this.redis));
  }

  leases(stream: string, group: string): LeaseStore {
    const name = `${stream}\u0000${group}`;
    let table = this.redis.leaseTables.get(name);
    if (!table) {
      table = new MemoryLeaseTable();
      this.redis.leaseTables.set(name, table);
    }
    return new MemoryLeaseStore(table);
  }

  atomicAcross(): boolean {
    return true;
  }

  exec(commands: readonly QueuedCommand[]): Promise<unknown[]> {
    // Non-blocking commands run synchronously, one after another: atomic like MULTI/EXEC.
    const results = commands.map((command) => {
      try {
        return asText(this.redis.execute(command.name, [...command.args]));
      } catch (error) {
        return error;
      }
    });
    return Promise.resolve(results);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A subscriber-mode connection to the in-memory Redis; messages arrive asynchronously, as over a socket. */
export class MemorySubscriber extends EventEmitter {
  status = 'ready';
  readonly #subscription: ReturnType<MemoryRedis['subscriber']>;

  constructor(redis: MemoryRedis) {
    super();
    this.#subscription = redis.subscriber((kind, key, channel, payload) => {
      setImmediate(() => this.#emit(kind, key, channel, payload));
    });
  }

  call(command: string, ...args: Arg[]): Promise<unknown> {
    const sets = this.#subscription.subscriptions;
    const kinds: Record<string, [PubSubKind, boolean]> = {
      subscribe: ['channel', true], unsubscribe: ['channel', false],
      psubscribe: ['pattern', true], punsubscribe: ['pattern', false],
      ssubscribe: ['sharded', true], sunsubscribe: ['sharded', false],
    };
    const action = kinds[command.toLowerCase()];
    if (!action) return Promise.reject(new ReplyError(`ERR Can't execute '${command}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE are allowed in this context`));
    const [kind, add] = action;
    for (const arg of args) {
      if (add) sets[kind].add(String(arg));
      else sets[kind].delete(String(arg));
    }
    return Promise.resolve(sets.channel.size + sets.pattern.size + sets.sharded.size);
  }

  quit(): Promise<'OK'> {
    this.disconnect();
    return Promise.resolve('OK');
  }

  disconnect(): void {
    this.status = 'end';
    this.#subscription.close();
  }

  #emit(kind: PubSubKind, key: string, channel: string, payload: Buffer): void {
    if (this.status !== 'ready') return;
    if (kind === 'channel') this.emit('messageBuffer', Buffer.from(channel), payload);
    else if (kind === 'sharded') this.emit('smessageBuffer', Buffer.from(channel), payload);
    else this.emit('pmessageBuffer', Buffer.from(key), Buffer.from(channel), payload);
  }
}

/** Runs a command, turning a synchronous throw into a rejection. */
function settle(run: () => unknown): Promise<unknown> {
  try {
    return Promise.resolve(run());
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

/** Bulk strings as text, as ioredis's `call` returns them. */
export function asText(reply: unknown): unknown {
  if (Buffer.isBuffer(reply)) return reply.toString();
  if (Array.isArray(reply)) return reply.map(asText);
  return reply;
}
