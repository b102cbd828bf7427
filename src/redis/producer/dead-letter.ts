/**
 * What a dead letter says: the original payload and headers, plus headers naming where it came
 * from and why. The producer sends it (see `RedisProducer.deadLetter`).
 */
import type { WireMessage } from '../../core/codec/wire.js';

/**
 * Why an entry left its stream: rejected by its handler, delivered more than `maxDeliveries`
 * times, or impossible to handle (`decode`: not decodable for its content type; `validation`: not
 * fitting the subscriber's schema).
 */
export type DeadLetterReason = 'rejected' | 'max-deliveries' | 'decode' | 'validation';

/** Headers added to a dead-lettered entry. */
export const DeadLetterHeader = {
  REASON: 'x-dead-letter-reason',
  STREAM: 'x-dead-letter-stream',
  GROUP: 'x-dead-letter-group',
  ID: 'x-dead-letter-id',
  DELIVERIES: 'x-dead-letter-deliveries',
  ERROR: 'x-dead-letter-error',
} as const;

/** An entry on its way to the dead-letter stream. */
export interface DeadEntry {
  readonly id: string;
  readonly wire: WireMessage;
  readonly deliveryCount: number | undefined;
}

/** Where dead letters of one stream and group go. */
export interface DeadLetterRoute {
  readonly stream: string;
  readonly group: string;
  /** The dead-letter stream; undefined drops them (after an error log). */
  readonly deadLetter: string | undefined;
}

/** The dead letter's headers: the original ones, then the `x-dead-letter-*` ones (which win). */
export function deadLetterHeaders(route: DeadLetterRoute, entry: DeadEntry, reason: DeadLetterReason, cause: unknown): Record<string, string> {
  const headers: Record<string, string> = { ...entry.wire.headers };
  headers[DeadLetterHeader.REASON] = reason;
  headers[DeadLetterHeader.STREAM] = route.stream;
  headers[DeadLetterHeader.GROUP] = route.group;
  headers[DeadLetterHeader.ID] = entry.id;
  if (entry.deliveryCount !== undefined) headers[DeadLetterHeader.DELIVERIES] = String(entry.deliveryCount);
  if (cause !== undefined) {
    const text = describeCause(cause);
    headers[DeadLetterHeader.ERROR] = text.length > 1000 ? `${text.slice(0, 1000)}…` : text;
  }
  return headers;
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
