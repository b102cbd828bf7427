/**
 * The commands that write messages, as the wire format wants them: PUBLISH / SPUBLISH for
 * channels, RPUSH for lists, XADD (MAXLEN ~) with the envelope in field `__data__` for streams,
 * and XACK. Readers import the field name from here; nothing else builds these commands.
 */
import type { QueuedCommand } from '../connection/strategy.js';
import type { Destination } from '../targets.js';

/** The stream field FastStream (and redstream) store the envelope in. */
export const DATA_FIELD = '__data__';

/** The command that writes `envelopes` (one, or every item of a list batch) to `destination`. */
export function publishCommand(destination: Destination, envelopes: readonly Buffer[], maxlen: number | undefined): QueuedCommand {
  const key = destination.name;
  switch (destination.kind) {
    case 'channel':
      return { name: destination.sharded ? 'SPUBLISH' : 'PUBLISH', key, args: [key, envelopes[0]!] };
    case 'list':
      return { name: 'RPUSH', key, args: envelopes.length === 1 ? [key, envelopes[0]!] : [key, ...envelopes] };
    case 'stream': {
      const args = maxlen === undefined ? [key, '*', DATA_FIELD, envelopes[0]!] : [key, 'MAXLEN', '~', maxlen, '*', DATA_FIELD, envelopes[0]!];
      return { name: 'XADD', key, args };
    }
  }
}

/** `XACK stream group id…`. */
export function ackCommand(stream: string, group: string, ids: readonly string[]): QueuedCommand {
  return { name: 'XACK', key: stream, args: [stream, group, ...ids] };
}
