import type { Logger } from '../../core/logger.js';
import type { BlockingConnection } from '../connection/strategy.js';
import type { RawEntry } from './stream-entries.js';

/**
 * Claiming for a consumer with `minIdleTime`: XAUTOCLAIM entries idle that long from any consumer
 * of the group (dead or stuck ones, or our own nacked entries), with the scan cursor carried
 * across calls. Once a scan comes back to `0-0` the next one waits `interval`, so an idle group
 * costs one call per interval, and the reader alternates claims with `>` reads so neither starves.
 */
export class Claimer {
  readonly minIdleTime: number;
  readonly interval: number;
  #cursor = '0-0';
  #nextScan = 0;

  constructor(minIdleTime: number, interval: number) {
    this.minIdleTime = minIdleTime;
    this.interval = interval;
  }

  /** Whether a claim should run now. */
  get due(): boolean {
    return Date.now() >= this.#nextScan;
  }

  /** Milliseconds until a claim is due (0 when it is). */
  get dueIn(): number {
    return Math.max(0, this.#nextScan - Date.now());
  }

  /** One XAUTOCLAIM step of at most `count` entries. */
  async claim(connection: BlockingConnection, stream: string, group: string, consumer: string, count: number, logger: Logger): Promise<RawEntry[]> {
    const args = [stream, group, consumer, this.minIdleTime, this.#cursor, 'COUNT', count];
    // Redis 7 answers [cursor, entries, deletedIds]; 6.2 answers [cursor, entries] with nil fields for deleted ones.
    const [cursor, entries, deleted] = (await connection.send('XAUTOCLAIM', args)) as [Buffer, RawEntry[], Buffer[] | undefined];
    this.#cursor = String(cursor);
    if (this.#cursor === '0-0') this.#nextScan = Date.now() + this.interval;
    if (deleted && deleted.length > 0) {
      logger.warn({ subscriber: stream }, `${deleted.length} pending entries were deleted from the stream; Redis dropped them from the group.`);
    }
    return entries;
  }
}
