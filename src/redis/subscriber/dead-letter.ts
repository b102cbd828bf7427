/**
 * Dead letters: an entry rejected, or delivered more than `maxDeliveries` times, is added to the
 * dead-letter stream as a normal envelope (field `__data__`, original payload and headers, plus
 * headers saying where it came from and why) and then acknowledged in the source.
 *
 * Atomic (MULTI/EXEC) where the strategy can run both keys in one transaction: always on a single
 * node, on a cluster only when both names share a hash slot (`{orders}` and `{orders}:dlq`).
 * Otherwise at-least-once: XADD first, XACK after, so a crash in between leaves the entry pending
 * and it is dead-lettered again (a duplicate in the dead-letter stream, never a loss).
 */
import { encodeEnvelope } from '../../core/codec/binary.js';
import type { Logger } from '../../core/logger.js';
import type { ConnectionStrategy, QueuedCommand } from '../connection/strategy.js';
import { DATA_FIELD, type Entry } from './stream-entries.js';

/** Why an entry left its stream. */
export type DeadLetterReason = 'rejected' | 'max-deliveries';

/** Headers added to a dead-lettered entry. */
export const DeadLetterHeader = {
  REASON: 'x-dead-letter-reason',
  STREAM: 'x-dead-letter-stream',
  GROUP: 'x-dead-letter-group',
  ID: 'x-dead-letter-id',
  DELIVERIES: 'x-dead-letter-deliveries',
  ERROR: 'x-dead-letter-error',
} as const;

export interface DeadLetterTarget {
  readonly strategy: ConnectionStrategy;
  readonly logger: Logger;
  readonly stream: string;
  readonly group: string;
  /** Where dead letters go; undefined drops them (after an error log). */
  readonly deadLetter: string | undefined;
}

/** Moves `entries` to the dead-letter stream (if any) and acknowledges them in the source. */
export async function deadLetter(target: DeadLetterTarget, entries: readonly Entry[], reason: DeadLetterReason, cause: unknown): Promise<void> {
  if (entries.length === 0) return;
  const ack: QueuedCommand = { name: 'XACK', key: target.stream, args: [target.stream, target.group, ...entries.map((e) => e.id)] };
  const context = { subscriber: target.stream, ids: entries.map((e) => e.id), reason };
  if (target.deadLetter === undefined) {
    target.logger.error(context, `Dropping ${entries.length} entries (${reason}); set \`deadLetter\` on the StreamSub to keep them.`);
    await target.strategy.commands.send(ack.name, ack.key, ack.args);
    return;
  }
  const dlq = target.deadLetter;
  const adds = entries.map((entry): QueuedCommand => ({
    name: 'XADD',
    key: dlq,
    args: [dlq, '*', DATA_FIELD, encodeEnvelope(headersFor(target, entry, reason, cause), entry.wire.payload)],
  }));
  if (target.strategy.atomicAcross([dlq, target.stream])) {
    throwFirst(await target.strategy.exec([...adds, ack], true));
  } else {
    throwFirst(await target.strategy.exec(adds, false));
    await target.strategy.commands.send(ack.name, ack.key, ack.args);
  }
  target.logger.warn(context, `Moved ${entries.length} entries to dead-letter stream "${dlq}" (${reason}).`);
}

function headersFor(target: DeadLetterTarget, entry: Entry, reason: DeadLetterReason, cause: unknown): Array<[string, string]> {
  const added: Array<[string, string]> = [
    [DeadLetterHeader.REASON, reason],
    [DeadLetterHeader.STREAM, target.stream],
    [DeadLetterHeader.GROUP, target.group],
    [DeadLetterHeader.ID, entry.id],
  ];
  if (entry.deliveryCount !== undefined) added.push([DeadLetterHeader.DELIVERIES, String(entry.deliveryCount)]);
  if (cause !== undefined) {
    const text = describeCause(cause);
    added.push([DeadLetterHeader.ERROR, text.length > 1000 ? `${text.slice(0, 1000)}…` : text]);
  }
  const names = new Set(added.map(([name]) => name));
  const original = Object.entries(entry.wire.headers).filter(([name]) => !names.has(name));
  return [...original, ...added];
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) return `${cause.name}: ${cause.message}`;
  if (typeof cause === 'string') return cause;
  try {
    return JSON.stringify(cause) ?? typeof cause;
  } catch {
    return typeof cause;
  }
}

function throwFirst(results: readonly unknown[]): void {
  const failed = results.find((result) => result instanceof Error);
  if (failed) throw failed;
}
