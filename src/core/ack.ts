/**
 * Ack policies (FastStream's names in camelCase). They matter for stream consumer groups;
 * channel and list messages are gone once read.
 */
export const AckPolicy = {
  /** Acknowledge before the handler runs (at-most-once). */
  ACK_FIRST: 'ackFirst',
  /** Acknowledge after the handler, whether it succeeded or failed. */
  ACK: 'ack',
  /** Acknowledge on success; on error reject (never redelivered; dead-lettered where configured). */
  REJECT_ON_ERROR: 'rejectOnError',
  /** Acknowledge on success; on error nack (stays pending, redelivered). The default for stream groups. */
  NACK_ON_ERROR: 'nackOnError',
  /** Do nothing; the handler calls `msg.ack()`, `nack()` or `reject()`. */
  MANUAL: 'manual',
} as const;
/** One of the {@link AckPolicy} values. */
export type AckPolicy = (typeof AckPolicy)[keyof typeof AckPolicy];

const values: readonly string[] = Object.values(AckPolicy);

/** Whether a value (for example from untyped options) is a known ack policy. */
export function isAckPolicy(value: unknown): value is AckPolicy {
  return typeof value === 'string' && values.includes(value);
}
