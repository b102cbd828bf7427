/**
 * Stream commands of the in-memory Redis: XADD, XRANGE/XREVRANGE, XLEN, XDEL, XGROUP, XREAD,
 * XREADGROUP, XACK, XPENDING, XAUTOCLAIM, XINFO GROUPS, with Redis's replies and errors.
 */
import type { MemoryStream } from './data.js';
import {
  compare,
  ConsumerGroup,
  entryReply,
  formatId,
  parseId,
  ReplyError,
  str,
  toBuffer,
  type Arg,
  type StreamEntry,
  type StreamId,
} from './data.js';


/** What stream commands need from the store. */
export interface StreamHost {
  stream(key: string, create: boolean): MemoryStream | undefined;
  /** Waits until the key changes, `ms` passes (0: forever) or the client is unblocked; true if it changed. */
  wait(key: string, ms: number, clientId: number): Promise<boolean>;
  notify(key: string): void;
}

/** XADD key [MAXLEN [~|=] n] id|* field value …; trims exactly. */
export function xadd(host: StreamHost, args: Arg[]): Buffer {
  const key = str(args[0]);
  let i = 1;
  let maxlen: number | undefined;
  if (str(args[i]).toUpperCase() === 'MAXLEN') {
    i += 1;
    if (str(args[i]) === '~' || str(args[i]) === '=') i += 1;
    maxlen = Number(str(args[i]));
    i += 1;
  }
  const stream = host.stream(key, true)!;
  const idArg = str(args[i]);
  const id: StreamId = idArg === '*' ? stream.nextId(Date.now()) : parseId(idArg);
  if (compare(id, stream.lastId) <= 0) throw new ReplyError('ERR The ID specified in XADD is equal or smaller than the target stream top item');
  stream.entries.push({ id, fields: args.slice(i + 1).map(toBuffer) });
  stream.lastId = id;
  if (maxlen !== undefined && stream.entries.length > maxlen) stream.entries.splice(0, stream.entries.length - maxlen);
  host.notify(key);
  return Buffer.from(formatId(id));
}

/** XRANGE key start end [COUNT n], or XREVRANGE (end and start swapped) when `reverse`. */
export function xrange(host: StreamHost, args: Arg[], reverse: boolean): Array<[Buffer, Buffer[]]> {
  const stream = host.stream(str(args[0]), false);
  if (!stream) return [];
  const [low, high] = reverse ? [str(args[2]), str(args[1])] : [str(args[1]), str(args[2])];
  const from = parseId(low, 0);
  const to = parseId(high, Number.MAX_SAFE_INTEGER);
  let entries = stream.entries.filter((e) => compare(e.id, from) >= 0 && compare(e.id, to) <= 0);
  if (reverse) entries = entries.reverse();
  const count = str(args[3]).toUpperCase() === 'COUNT' ? Number(str(args[4])) : entries.length;
  return entries.slice(0, count).map(entryReply);
}

/** XLEN key. */
export function xlen(host: StreamHost, args: Arg[]): number {
  return host.stream(str(args[0]), false)?.entries.length ?? 0;
}

/** XDEL key id …; pending entries of deleted IDs stay in their groups' PELs. */
export function xdel(host: StreamHost, args: Arg[]): number {
  const stream = host.stream(str(args[0]), false);
  if (!stream) return 0;
  const ids = new Set(args.slice(1).map((a) => formatId(parseId(str(a)))));
  const before = stream.entries.length;
  stream.entries = stream.entries.filter((e) => !ids.has(formatId(e.id)));
  return before - stream.entries.length;
}

/** XGROUP CREATE key group id|$ [MKSTREAM], and XGROUP DESTROY key group. */
export function xgroup(host: StreamHost, args: Arg[]): string | number {
  const sub = str(args[0]).toUpperCase();
  const key = str(args[1]);
  const name = str(args[2]);
  if (sub === 'DESTROY') return host.stream(key, false)?.groups.delete(name) ? 1 : 0;
  if (sub !== 'CREATE') throw new ReplyError(`ERR unknown subcommand '${sub}'`);
  const mkstream = args.slice(4).some((a) => str(a).toUpperCase() === 'MKSTREAM');
  const stream = host.stream(key, mkstream);
  if (!stream) throw new ReplyError('ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.');
  if (stream.groups.has(name)) throw new ReplyError('BUSYGROUP Consumer Group name already exists');
  const start = str(args[3]);
  stream.groups.set(name, new ConsumerGroup(start === '$' ? stream.lastId : parseId(start)));
  return 'OK';
}

interface ReadOptions {
  count: number;
  block: number | undefined;
  noAck: boolean;
  key: string;
  id: string;
}

function readOptions(args: Arg[], from: number): ReadOptions {
  const options: ReadOptions = { count: Number.MAX_SAFE_INTEGER, block: undefined, noAck: false, key: '', id: '' };
  for (let i = from; i < args.length; i += 1) {
    const word = str(args[i]).toUpperCase();
    if (word === 'COUNT') options.count = Number(str(args[++i]));
    else if (word === 'BLOCK') options.block = Number(str(args[++i]));
    else if (word === 'NOACK') options.noAck = true;
    else if (word === 'STREAMS') {
      options.key = str(args[i + 1]);
      options.id = str(args[i + 2]);
      break;
    }
  }
  return options;
}

/** XREAD [COUNT n] [BLOCK ms] STREAMS key id, for one stream. */
export async function xread(host: StreamHost, args: Arg[], clientId: number): Promise<unknown> {
  const o = readOptions(args, 0);
  const from = o.id === '$' ? (host.stream(o.key, false)?.lastId ?? { ms: 0, seq: 0 }) : parseId(o.id);
  for (;;) {
    const entries = host.stream(o.key, false)?.after(from).slice(0, o.count) ?? [];
    if (entries.length > 0) return [[Buffer.from(o.key), entries.map(entryReply)]];
    if (o.block === undefined || !(await host.wait(o.key, o.block, clientId))) return null;
  }
}

/** XREADGROUP GROUP group consumer [COUNT n] [BLOCK ms] [NOACK] STREAMS key id, for one stream. */
export async function xreadgroup(host: StreamHost, args: Arg[], clientId: number): Promise<unknown> {
  const groupName = str(args[1]);
  const consumer = str(args[2]);
  const o = readOptions(args, 3);
  for (;;) {
    const stream = host.stream(o.key, false);
    const group = stream?.groups.get(groupName);
    if (!stream || !group) {
      throw new ReplyError(`NOGROUP No such key '${o.key}' or consumer group '${groupName}' in XREADGROUP with GROUP option`);
    }
    group.consumers.add(consumer);
    if (o.id !== '>') return [[Buffer.from(o.key), history(stream, group, consumer, parseId(o.id), o.count)]];
    const fresh = stream.after(group.lastDelivered).slice(0, o.count);
    if (fresh.length > 0) {
      group.lastDelivered = fresh[fresh.length - 1]!.id;
      if (!o.noAck) for (const entry of fresh) group.pending.set(formatId(entry.id), { consumer, deliveredAt: Date.now(), count: 1 });
      return [[Buffer.from(o.key), fresh.map(entryReply)]];
    }
    if (o.block === undefined || !(await host.wait(o.key, o.block, clientId))) return null;
  }
}

/** A consumer's own pending entries after `from`: delivered again (count + 1); deleted ones come back with nil fields. */
function history(stream: MemoryStream, group: ConsumerGroup, consumer: string, from: StreamId, count: number): unknown[] {
  const reply: unknown[] = [];
  for (const id of group.pendingIds()) {
    const pending = group.pending.get(id)!;
    if (pending.consumer !== consumer || compare(parseId(id), from) <= 0) continue;
    if (reply.length >= count) break;
    pending.count += 1;
    pending.deliveredAt = Date.now();
    const entry = stream.find(parseId(id));
    reply.push(entry ? entryReply(entry) : [Buffer.from(id), null]);
  }
  return reply;
}

/** XACK key group id …; the count of entries removed from the PEL. */
export function xack(host: StreamHost, args: Arg[]): number {
  const group = host.stream(str(args[0]), false)?.groups.get(str(args[1]));
  if (!group) return 0;
  let acked = 0;
  for (const arg of args.slice(2)) if (group.pending.delete(formatId(parseId(str(arg))))) acked += 1;
  return acked;
}

/** XPENDING key group, summary form, or the extended form `[IDLE ms] start end count [consumer]`. */
export function xpending(host: StreamHost, args: Arg[]): unknown {
  const group = host.stream(str(args[0]), false)?.groups.get(str(args[1]));
  if (!group) throw new ReplyError(`NOGROUP No such key '${str(args[0])}' or consumer group '${str(args[1])}'`);
  const ids = group.pendingIds();
  if (args.length === 2) {
    if (ids.length === 0) return [0, null, null, null];
    const perConsumer = new Map<string, number>();
    for (const p of group.pending.values()) perConsumer.set(p.consumer, (perConsumer.get(p.consumer) ?? 0) + 1);
    return [ids.length, Buffer.from(ids[0]!), Buffer.from(ids[ids.length - 1]!), [...perConsumer].map(([c, n]) => [Buffer.from(c), Buffer.from(String(n))])];
  }
  let i = 2;
  let minIdle = 0;
  if (str(args[i]).toUpperCase() === 'IDLE') {
    minIdle = Number(str(args[i + 1]));
    i += 2;
  }
  const [from, to, count, consumer] = [parseId(str(args[i]), 0), parseId(str(args[i + 1]), Number.MAX_SAFE_INTEGER), Number(str(args[i + 2])), args[i + 3]];
  const now = Date.now();
  return ids
    .filter((id) => compare(parseId(id), from) >= 0 && compare(parseId(id), to) <= 0)
    .map((id) => [id, group.pending.get(id)!] as const)
    .filter(([, p]) => (consumer === undefined || p.consumer === str(consumer)) && now - p.deliveredAt >= minIdle)
    .slice(0, count)
    .map(([id, p]) => [Buffer.from(id), Buffer.from(p.consumer), now - p.deliveredAt, p.count]);
}

/** XAUTOCLAIM key group consumer min-idle start [COUNT n], with Redis 7's reply (deleted IDs third). */
export function xautoclaim(host: StreamHost, args: Arg[]): unknown {
  const stream = host.stream(str(args[0]), false);
  const group = stream?.groups.get(str(args[1]));
  if (!stream || !group) throw new ReplyError(`NOGROUP No such key '${str(args[0])}' or consumer group '${str(args[1])}'`);
  const consumer = str(args[2]);
  const minIdle = Number(str(args[3]));
  const start = parseId(str(args[4]));
  const options = args.slice(5).map((arg) => str(arg).toUpperCase());
  const at = options.indexOf('COUNT');
  const count = at === -1 ? 100 : Number(options[at + 1]);
  // JUSTID: the IDs only, and the delivery count stays as it is.
  const justId = options.includes('JUSTID');
  const now = Date.now();
  const claimed: Array<[Buffer, Buffer[]] | Buffer> = [];
  const deleted: Buffer[] = [];
  const ids = group.pendingIds().filter((id) => compare(parseId(id), start) >= 0);
  let scanned = 0;
  for (const id of ids) {
    if (claimed.length >= count || scanned >= count * 10) return [Buffer.from(id), claimed, deleted];
    scanned += 1;
    const pending = group.pending.get(id)!;
    if (now - pending.deliveredAt < minIdle) continue;
    const entry: StreamEntry | undefined = stream.find(parseId(id));
    if (!entry) {
      group.pending.delete(id);
      deleted.push(Buffer.from(id));
      continue;
    }
    Object.assign(pending, { consumer, deliveredAt: now, count: justId ? pending.count : pending.count + 1 });
    group.consumers.add(consumer);
    claimed.push(justId ? Buffer.from(id) : entryReply(entry));
  }
  return [Buffer.from('0-0'), claimed, deleted];
}

/** XINFO GROUPS key. */
export function xinfoGroups(host: StreamHost, args: Arg[]): unknown[] {
  const stream = host.stream(str(args[1]), false);
  if (!stream) throw new ReplyError('ERR no such key');
  return [...stream.groups].map(([name, g]) => [
    'name', name, 'consumers', g.consumers.size, 'pending', g.pending.size, 'last-delivered-id', formatId(g.lastDelivered),
  ]);
}
