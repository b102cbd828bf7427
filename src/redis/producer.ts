/**
 * The producer is the only object that issues publish commands: PUBLISH / SPUBLISH for
 * channels, RPUSH for lists, XADD (MAXLEN ~) with field `__data__` for streams.
 */
import type { ConnectionStrategy, QueuedCommand } from './connection/strategy.js';
import type { RedisPipeline } from './pipeline.js';
import { DATA_FIELD } from './subscriber/stream-entries.js';
import type { Destination } from './targets.js';

/** What a publish returns: receivers (channel), new length (list) or entry ID (stream). */
export type PublishResult = number | string;

export class RedisProducer {
  readonly #strategy: ConnectionStrategy;

  constructor(strategy: ConnectionStrategy) {
    this.#strategy = strategy;
  }

  /** Sends now, or queues on `pipeline` (then resolves to undefined at once). */
  send(destination: Destination, envelopes: readonly Buffer[], maxlen: number | undefined, pipeline?: RedisPipeline): Promise<PublishResult | undefined> {
    const command = toCommand(destination, envelopes, maxlen);
    if (pipeline) {
      pipeline.enqueue(command, destination.kind === 'stream' ? String : Number);
      return Promise.resolve(undefined);
    }
    // Every strategy answers XADD with the ID as a string and the others with an integer.
    return this.#strategy.commands.send(command.name, command.key, command.args) as Promise<PublishResult>;
  }
}

export function toCommand(destination: Destination, envelopes: readonly Buffer[], maxlen: number | undefined): QueuedCommand {
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
