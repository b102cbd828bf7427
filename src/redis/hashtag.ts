/**
 * Hash slots and hash tags. Redis Cluster puts a key in slot CRC16(key) mod 16384, hashing only
 * the part inside the first non-empty `{…}` when there is one, so `{orders}` and `{orders}:dlq`
 * live on the same node and can be used together in one transaction.
 * @see https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#hash-tags
 */

/** How many hash slots a Redis Cluster has. */
export const SLOTS = 16384;

const table = new Uint16Array(256);
for (let i = 0; i < 256; i += 1) {
  let crc = i << 8;
  for (let bit = 0; bit < 8; bit += 1) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
  table[i] = crc & 0xffff;
}

function crcStep(crc: number, byte: number): number {
  return ((crc << 8) & 0xffff) ^ (table[((crc >> 8) ^ byte) & 0xff] as number);
}

function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) crc = crcStep(crc, byte);
  return crc;
}

/** The part of a key that decides its slot. */
export function hashedPart(key: string): string {
  const open = key.indexOf('{');
  if (open === -1) return key;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

/** The cluster hash slot of a key (0–16383). */
export function slotOf(key: string): number {
  const hashed = hashedPart(key);
  // ASCII (the usual key) is hashed from its chars; anything else from its UTF-8 bytes.
  let crc = 0;
  for (let i = 0; i < hashed.length; i += 1) {
    const code = hashed.charCodeAt(i);
    if (code > 0x7f) return crc16(Buffer.from(hashed, 'utf8')) % SLOTS;
    crc = crcStep(crc, code);
  }
  return crc % SLOTS;
}

/** Whether all keys hash to one slot (so one MULTI/EXEC or one node can serve them together). */
export function sameSlot(...keys: readonly string[]): boolean {
  if (keys.length === 0) return true;
  const first = slotOf(keys[0]!);
  return keys.every((key) => slotOf(key) === first);
}

/**
 * A name that shares `base`'s slot: `withHashTag('orders', 'dlq')` is `{orders}:dlq`, and
 * `withHashTag('{orders}', 'dlq')` keeps the existing tag.
 * @example new StreamSub(withHashTag('orders'), { group: 'g', consumer: 'c', deadLetter: withHashTag('orders', 'dlq') })
 */
export function withHashTag(base: string, suffix?: string): string {
  const tagged = hashedPart(base) !== base || base.startsWith('{}') ? base : `{${base}}`;
  return suffix === undefined ? tagged : `${tagged}:${suffix}`;
}

/**
 * The sharded Pub/Sub channel a cluster's writers ring after writing to `key` (the payload names
 * the key): `redstream:bell:{tag}`, in the key's own slot, so SPUBLISH reaches the node that holds
 * the key. Undefined for the rare key whose slot no such name can share (a `}` outside a tag).
 */
export function doorbellOf(key: string): string | undefined {
  const hashed = hashedPart(key);
  if (hashed === '' || hashed.includes('}')) return undefined;
  return `redstream:bell:{${hashed}}`;
}

/**
 * How doorbells stay quiet where nobody listens. A writer whose ring reached no subscriber rings
 * that key no more for `hushMs` (counted from when it sent the ring), and a reader that has just
 * subscribed to a doorbell waits at most twice that before it reads again, so a write a hushed
 * writer did not ring waits that long at most. Both sides read it at use time (tests lengthen it).
 */
export const doorbellTiming = { hushMs: 1 };

/**
 * The key of partition `index` of the partitioned stream `name`: `{orders:3}`. Each partition has
 * a hash tag of its own, so the partitions of one stream spread over the masters of a cluster,
 * and a name made from it (`{orders:3}:dlq`) shares its slot.
 */
export function partitionKey(name: string, index: number): string {
  return `{${name}:${index}}`;
}

/**
 * The partition a message key goes to, as Kafka's default partitioner picks it:
 * `(murmur2(utf8(key)) & 0x7fffffff) % partitions`, murmur2 being Kafka's (seed `0x9747b28c`).
 * A Python or Go producer computes the same with its Kafka client's murmur2.
 */
export function partitionOf(key: string, partitions: number): number {
  return (murmur2(Buffer.from(key, 'utf8')) & 0x7fffffff) % partitions;
}

/** Kafka's 32-bit murmur2 of `data`, as a signed integer (Java's `Utils.murmur2`). */
export function murmur2(data: Uint8Array): number {
  const m = 0x5bd1e995;
  const length = data.length;
  let h = 0x9747b28c ^ length;
  const whole = length - (length % 4);
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const rest = length % 4;
  if (rest > 0) {
    if (rest === 3) h ^= data[whole + 2]! << 16;
    if (rest >= 2) h ^= data[whole + 1]! << 8;
    h ^= data[whole]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}
