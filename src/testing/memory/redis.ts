import { MemoryList, MemoryStream, MemoryString, ReplyError, str, toBuffer, wrongType, type Arg, type MemoryValue } from './data.js';
import type { MemoryLeaseTable } from './leases.js';
import * as streams from './streams.js';

/** How a subscription was made: SUBSCRIBE, PSUBSCRIBE or SSUBSCRIBE. */
export type PubSubKind = 'channel' | 'pattern' | 'sharded';
/** Hands a published message to a subscriber connection; `key` is the channel or pattern subscribed to. */
export type Delivery = (kind: PubSubKind, key: string, channel: string, payload: Buffer) => void;

interface Waiter {
  readonly clientId: number;
  wake(changed: boolean): void;
}

/**
 * An in-memory Redis for TestRedisBroker: the commands redstream sends, with Redis's replies,
 * blocking and errors, so every subscriber, ack, claim and dead-letter path runs unchanged without
 * a socket. Not a general-purpose Redis: commands it does not know fail with Redis's error.
 */
export class MemoryRedis implements streams.StreamHost {
  readonly #keys = new Map<string, MemoryValue>();
  /** The lease tables of partitioned streams' groups (kept by Redis scripts on a real server). */
  readonly leaseTables = new Map<string, MemoryLeaseTable>();
  readonly #waiters = new Map<string, Set<Waiter>>();
  readonly #subscribers = new Set<{ deliver: Delivery; subscriptions: Record<PubSubKind, Set<string>> }>();
  #nextClientId = 1;

  /** A new client ID, as CLIENT ID would give. */
  newClient(): number {
    const id = this.#nextClientId;
    this.#nextClientId += 1;
    return id;
  }

  /**
   * Runs one command. Replies use Buffers for bulk strings, as ioredis's *Buffer methods do. Only
   * blocking reads (BLPOP, XREAD, XREADGROUP) return a promise; everything else runs at once, so a
   * sequence of commands runs without anything in between (MULTI semantics).
   */
  execute(command: string, args: Arg[], clientId = 0): unknown {
    const name = command.toUpperCase();
    switch (name) {
      case 'PING': return 'PONG';
      case 'CLIENT': return this.#client(args);
      case 'PUBLISH': return this.publish('channel', str(args[0]), toBuffer(args[1] ?? ''));
      case 'SPUBLISH': return this.publish('sharded', str(args[0]), toBuffer(args[1] ?? ''));
      case 'RPUSH': return this.#rpush(args);
      case 'LPOP': return this.#lpop(args);
      case 'BLPOP': return this.#blpop(args, clientId);
      case 'LLEN': return this.#list(str(args[0]), false)?.items.length ?? 0;
      case 'LRANGE': return this.#lrange(args);
      case 'EXISTS': return args.filter((key) => this.#keys.has(str(key))).length;
      case 'DEL': return args.filter((key) => this.#keys.delete(str(key))).length;
      case 'SET': return this.#set(args);
      case 'GET': return this.#string(str(args[0]))?.value ?? null;
      case 'XADD': return streams.xadd(this, args);
      case 'XRANGE': return streams.xrange(this, args, false);
      case 'XREVRANGE': return streams.xrange(this, args, true);
      case 'XLEN': return streams.xlen(this, args);
      case 'XDEL': return streams.xdel(this, args);
      case 'XGROUP': return streams.xgroup(this, args);
      case 'XREAD': return streams.xread(this, args, clientId);
      case 'XREADGROUP': return streams.xreadgroup(this, args, clientId);
      case 'XACK': return streams.xack(this, args);
      case 'XPENDING': return streams.xpending(this, args);
      case 'XAUTOCLAIM': return streams.xautoclaim(this, args);
      case 'XINFO': return streams.xinfoGroups(this, args);
      default: throw new ReplyError(`ERR unknown command '${command}' (the in-memory Redis of redstream/testing knows only what redstream uses)`);
    }
  }

  /** Registers a subscriber connection; returns its subscription sets. */
  subscriber(deliver: Delivery): { subscriptions: Record<PubSubKind, Set<string>>; close(): void } {
    const entry = { deliver, subscriptions: { channel: new Set<string>(), pattern: new Set<string>(), sharded: new Set<string>() } };
    this.#subscribers.add(entry);
    return { subscriptions: entry.subscriptions, close: () => this.#subscribers.delete(entry) };
  }

  /** Delivers to matching subscriptions; the count of receivers, as PUBLISH answers. */
  publish(kind: 'channel' | 'sharded', channel: string, payload: Buffer): number {
    let receivers = 0;
    for (const { deliver, subscriptions } of this.#subscribers) {
      if (subscriptions[kind].has(channel)) {
        deliver(kind, channel, channel, payload);
        receivers += 1;
      }
      if (kind === 'channel') {
        for (const pattern of subscriptions.pattern) {
          if (globMatch(pattern, channel)) {
            deliver('pattern', pattern, channel, payload);
            receivers += 1;
          }
        }
      }
    }
    return receivers;
  }

  stream(key: string, create: boolean): MemoryStream | undefined {
    return this.#value(key, 'stream', create ? () => new MemoryStream() : undefined);
  }

  wait(key: string, ms: number, clientId: number): Promise<boolean> {
    return new Promise((resolve) => {
      const set = this.#waiters.get(key) ?? new Set<Waiter>();
      this.#waiters.set(key, set);
      const timer = ms > 0 ? setTimeout(() => waiter.wake(false), ms) : undefined;
      const waiter: Waiter = {
        clientId,
        wake: (changed) => {
          clearTimeout(timer);
          set.delete(waiter);
          resolve(changed);
        },
      };
      set.add(waiter);
    });
  }

  notify(key: string): void {
    for (const waiter of [...(this.#waiters.get(key) ?? [])]) waiter.wake(true);
  }

  /** SET key value [NX] [GET]: the options redstream uses (no expiry). */
  #set(args: Arg[]): unknown {
    const key = str(args[0]);
    const options = args.slice(2).map((arg) => str(arg).toUpperCase());
    const unknown = options.find((option) => option !== 'NX' && option !== 'GET');
    if (unknown !== undefined) throw new ReplyError(`ERR syntax error (the in-memory Redis knows SET … NX GET only, not ${unknown})`);
    const old = this.#string(key)?.value ?? null;
    const exists = this.#keys.has(key);
    if (!(options.includes('NX') && exists)) this.#keys.set(key, new MemoryString(toBuffer(args[1] ?? '')));
    if (options.includes('GET')) return old;
    return options.includes('NX') && exists ? null : 'OK';
  }

  #client(args: Arg[]): unknown {
    const sub = str(args[0]).toUpperCase();
    if (sub === 'ID') return this.newClient();
    if (sub !== 'UNBLOCK') return 'OK';
    const id = Number(str(args[1]));
    let unblocked = 0;
    for (const set of this.#waiters.values()) {
      for (const waiter of [...set]) {
        if (waiter.clientId === id) {
          waiter.wake(false);
          unblocked += 1;
        }
      }
    }
    return unblocked;
  }

  #list(key: string, create: boolean): MemoryList | undefined {
    return this.#value(key, 'list', create ? () => new MemoryList() : undefined);
  }

  #string(key: string): MemoryString | undefined {
    return this.#value(key, 'string', undefined);
  }

  /** The value at `key` if it has `type` (WRONGTYPE otherwise), created by `make` when missing. */
  #value<T extends MemoryValue>(key: string, type: T['type'], make: (() => T) | undefined): T | undefined {
    const value = this.#keys.get(key);
    if (value === undefined) {
      if (!make) return undefined;
      const made = make();
      this.#keys.set(key, made);
      return made;
    }
    if (value.type !== type) throw wrongType();
    return value as T;
  }

  #rpush(args: Arg[]): number {
    const key = str(args[0]);
    if (args.length < 2) throw new ReplyError("ERR wrong number of arguments for 'rpush' command");
    const list = this.#list(key, true)!;
    list.items.push(...args.slice(1).map(toBuffer));
    const length = list.items.length;
    this.notify(key);
    return length;
  }

  #lpop(args: Arg[]): Buffer | Buffer[] | null {
    const key = str(args[0]);
    const list = this.#list(key, false);
    if (!list || list.items.length === 0) return null;
    const popped = args[1] === undefined ? list.items.splice(0, 1) : list.items.splice(0, Number(str(args[1])));
    if (list.items.length === 0) this.#keys.delete(key);
    return args[1] === undefined ? popped[0]! : popped;
  }

  async #blpop(args: Arg[], clientId: number): Promise<[Buffer, Buffer] | null> {
    const key = str(args[0]);
    const timeout = Number(str(args[1])) * 1000;
    for (;;) {
      const item = this.#lpop([key]) as Buffer | null;
      if (item) return [Buffer.from(key), item];
      if (!(await this.wait(key, timeout, clientId))) return null;
    }
  }

  #lrange(args: Arg[]): Buffer[] {
    const items = this.#list(str(args[0]), false)?.items ?? [];
    const start = Number(str(args[1]));
    const stop = Number(str(args[2]));
    return items.slice(start < 0 ? Math.max(items.length + start, 0) : start, stop < 0 ? items.length + stop + 1 : stop + 1);
  }
}

/** Redis glob matching for PSUBSCRIBE: `*`, `?`, `[…]`, `\` escapes. */
export function globMatch(pattern: string, text: string): boolean {
  let regex = '';
  for (let i = 0; i < pattern.length; i += 1) {
    const c = pattern[i]!;
    if (c === '*') regex += '.*';
    else if (c === '?') regex += '.';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end === -1) regex += '\\[';
      else {
        regex += `[${pattern.slice(i + 1, end).replace(/^\^/, '^').replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else if (c === '\\' && i + 1 < pattern.length) regex += `\\${pattern[++i]}`;
    else regex += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${regex}$`, 's').test(text);
}
