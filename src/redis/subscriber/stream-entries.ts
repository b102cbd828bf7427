/**
 * Stream replies as Redis sends them (bulk strings as Buffers) and entries as wire messages.
 */
import { parseWire, type WireMessage } from '../../core/codec/wire.js';
import type { BlockingConnection } from '../connection/strategy.js';
import { DATA_FIELD } from '../producer/commands.js';

/** `[id, [field, value, …]]`; fields are null for a pending entry that was deleted. */
export type RawEntry = [Buffer, Buffer[] | null];
/** XREAD / XREADGROUP reply for one stream. */
export type ReadReply = Array<[Buffer, RawEntry[]]> | null;

/** One entry, read and understood. */
export interface Entry {
  readonly id: string;
  readonly wire: WireMessage;
  /** Times the group delivered it, this delivery included; undefined without a group. */
  deliveryCount: number | undefined;
}

/** The entries of a read reply; none when the read timed out. */
export function entriesOf(reply: ReadReply): RawEntry[] {
  return reply?.[0]?.[1] ?? [];
}

/** An entry's fields as a wire message: `__data__` holds the envelope; other shapes become JSON (spec §5.5). */
export function toWire(fields: Buffer[]): WireMessage {
  // The usual entry has one field, `__data__`: recognised without decoding its name.
  if (fields.length === 2 && isDataField(fields[0]!)) return parseWire(fields[1]!);
  const map: Record<string, string> = {};
  for (let i = 0; i < fields.length; i += 2) {
    const name = String(fields[i]);
    if (name === DATA_FIELD) return parseWire(fields[i + 1] ?? Buffer.alloc(0));
    map[name] = String(fields[i + 1]);
  }
  return parseWire(Buffer.from(JSON.stringify(map)));
}

const DATA_FIELD_BYTES = Buffer.from(DATA_FIELD);

function isDataField(name: Buffer): boolean {
  if (name.length !== DATA_FIELD_BYTES.length) return false;
  for (let i = 0; i < name.length; i += 1) if (name[i] !== DATA_FIELD_BYTES[i]) return false;
  return true;
}

/** Entries with their fields; deleted ones (null fields) are left out. */
export function toEntries(raw: readonly RawEntry[], deliveryCount: number | undefined): Entry[] {
  const entries: Entry[] = [];
  for (const [id, fields] of raw) if (fields) entries.push({ id: String(id), wire: toWire(fields), deliveryCount });
  return entries;
}

/** IDs of entries whose data is gone (XDEL, trimming) but that are still pending. */
export function deletedIds(raw: readonly RawEntry[]): string[] {
  return raw.filter(([, fields]) => fields === null).map(([id]) => String(id));
}

/**
 * Fills in delivery counts from XPENDING: one call over the entries' ID range, this consumer only.
 * `inFlight` bounds the other pending entries of this consumer that may sit in that range.
 */
export async function loadDeliveryCounts(
  connection: BlockingConnection,
  stream: string,
  group: string,
  consumer: string,
  entries: readonly Entry[],
  inFlight: number,
): Promise<void> {
  if (entries.length === 0) return;
  const ids = entries.map((entry) => entry.id).sort(compareIds);
  const args = [stream, group, ids[0]!, ids[ids.length - 1]!, entries.length + inFlight, consumer];
  const rows = (await connection.send('XPENDING', args)) as Array<[Buffer, Buffer, number, number]>;
  const counts = new Map(rows.map(([id, , , count]) => [String(id), Number(count)]));
  for (const entry of entries) entry.deliveryCount = counts.get(entry.id) ?? entry.deliveryCount;
}

/** Orders two stream IDs (`ms-seq`). */
export function compareIds(a: string, b: string): number {
  const [am = 0n, as = 0n] = a.split('-').map(BigInt);
  const [bm = 0n, bs = 0n] = b.split('-').map(BigInt);
  return am === bm ? Number(as - bs) : am < bm ? -1 : 1;
}
