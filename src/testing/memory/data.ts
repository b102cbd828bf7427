/**
 * The in-memory Redis's data: lists, streams with consumer groups (PEL, delivery counts, idle
 * times) and strings, with Redis's error texts where redstream or a test looks at them.
 */

/** An error reply from the in-memory Redis, named like ioredis's. */
export class ReplyError extends Error {
  override readonly name = 'ReplyError';
}

/** Redis's WRONGTYPE error, for a command run on a key of another type. */
export const wrongType = (): ReplyError => new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value');

/** A stream entry ID. */
export interface StreamId {
  readonly ms: number;
  readonly seq: number;
}

/** A stream ID as Redis writes it: `ms-seq`. */
export function formatId(id: StreamId): string {
  return `${id.ms}-${id.seq}`;
}

/** Parses `ms-seq`, `ms` (seq = `missingSeq`), `-` and `+`. */
export function parseId(text: string, missingSeq = 0): StreamId {
  if (text === '-') return { ms: 0, seq: 0 };
  if (text === '+') return { ms: Number.MAX_SAFE_INTEGER, seq: Number.MAX_SAFE_INTEGER };
  const match = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (!match) throw new ReplyError('ERR Invalid stream ID specified as stream command argument');
  return { ms: Number(match[1]), seq: match[2] === undefined ? missingSeq : Number(match[2]) };
}

/** Orders two stream IDs: negative, zero or positive. */
export function compare(a: StreamId, b: StreamId): number {
  return a.ms === b.ms ? a.seq - b.seq : a.ms - b.ms;
}

/** One stream entry: its ID and its fields as `field, value, …`. */
export interface StreamEntry {
  readonly id: StreamId;
  readonly fields: Buffer[];
}

/** A group's record of an unacknowledged entry: who has it, since when (epoch ms) and how often it was delivered. */
export interface PendingEntry {
  consumer: string;
  deliveredAt: number;
  count: number;
}

/** A consumer group: last delivered ID, pending entries (the PEL) and the consumers seen. */
export class ConsumerGroup {
  lastDelivered: StreamId;
  /** By formatted ID, in insertion order; sorted when listed. */
  readonly pending = new Map<string, PendingEntry>();
  readonly consumers = new Set<string>();

  constructor(lastDelivered: StreamId) {
    this.lastDelivered = lastDelivered;
  }

  /** Pending IDs, oldest first. */
  pendingIds(): string[] {
    return [...this.pending.keys()].sort((a, b) => compare(parseId(a), parseId(b)));
  }
}

/** A stream: its entries in ID order, the last ID given out, and its groups. */
export class MemoryStream {
  readonly type = 'stream' as const;
  entries: StreamEntry[] = [];
  lastId: StreamId = { ms: 0, seq: 0 };
  readonly groups = new Map<string, ConsumerGroup>();

  /** The next automatic ID: time-based, always above the last one. */
  nextId(now: number): StreamId {
    return now > this.lastId.ms ? { ms: now, seq: 0 } : { ms: this.lastId.ms, seq: this.lastId.seq + 1 };
  }

  find(id: StreamId): StreamEntry | undefined {
    return this.entries.find((entry) => compare(entry.id, id) === 0);
  }

  /** Entries with from < id (or from <= id when `inclusive`), in order. */
  after(from: StreamId, inclusive = false): StreamEntry[] {
    return this.entries.filter((entry) => (inclusive ? compare(entry.id, from) >= 0 : compare(entry.id, from) > 0));
  }
}

/** A list; the first item is the head that LPOP takes. */
export class MemoryList {
  readonly type = 'list' as const;
  items: Buffer[] = [];
}

/** A string value. */
export class MemoryString {
  readonly type = 'string' as const;
  value: Buffer;

  constructor(value: Buffer) {
    this.value = value;
  }
}

/** Anything a key can hold. */
export type MemoryValue = MemoryStream | MemoryList | MemoryString;

/** `[id, [field, value, …]]` as Redis replies. */
export function entryReply(entry: StreamEntry): [Buffer, Buffer[]] {
  return [Buffer.from(formatId(entry.id)), entry.fields];
}

/** A command argument as a client sends it. */
export type Arg = string | Buffer | number;

/** An argument as text (missing arguments read as ''). */
export function str(arg: Arg | undefined): string {
  return arg === undefined ? '' : Buffer.isBuffer(arg) ? arg.toString() : String(arg);
}

/** An argument as bytes. */
export function toBuffer(value: Arg): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(String(value));
}
