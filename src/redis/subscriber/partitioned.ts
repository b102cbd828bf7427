/**
 * A subscriber of a partitioned stream: one stream reader per partition it reads, each a plain
 * group (or no-group) reader of that partition's key with its own workers, so messages of one key
 * keep their order with `maxWorkers: 1`. With a group, the instances share the partitions through
 * leases (./leases.ts); without one, every subscriber reads every partition.
 */
import { randomBytes } from 'node:crypto';
import type { StreamSub } from '../sources.js';
import { plan, RedisLeaseStore, type LeaseChange, type LeaseStore } from './leases.js';
import type { LoopDeps, RuntimeSubscriber } from './runtime.js';
import { createGroup, StreamSubscriber } from './stream.js';

/** Runs the partitions of one partitioned StreamSub this instance holds. */
export class PartitionedSubscriber implements RuntimeSubscriber {
  readonly name: string;
  readonly #source: StreamSub<boolean>;
  readonly #partitions: number;
  readonly #deps: LoopDeps;
  readonly #gracefulTimeout: number;
  /** Undefined without a group: every partition is read. */
  readonly #store: LeaseStore | undefined;
  /**
   * This instance in the lease table: its consumer name and a token of its own, so two instances
   * given one consumer name still hold different partitions.
   */
  readonly #member: string;
  /** The running reader of each partition read now. */
  readonly #readers = new Map<number, StreamSubscriber>();
  /**
   * Each partition's opens and closes, one after another (a close waits for an open under way and
   * the other way round); what the rounds asked for is in #wanted at once.
   */
  readonly #steps = new Map<number, Promise<void>>();
  /** Partitions being read, or about to be, once the queued steps ran. */
  readonly #wanted = new Set<number>();
  /** Partitions being given up (their reader stopping, then their lease dropped). */
  readonly #releasing = new Set<number>();
  /** Partitions whose lease this instance held after its last round. */
  #held = new Set<number>();
  #running = false;
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;
  /** Stops every reader when the leases renewed last may have expired (no round succeeded since). */
  #fence: NodeJS.Timeout | undefined;
  /** Whether the last round left this instance holding exactly its share. */
  #balanced = false;

  constructor(source: StreamSub<boolean>, deps: LoopDeps, gracefulTimeout: number) {
    this.#source = source;
    this.name = source.name;
    this.#partitions = source.partitions!;
    this.#deps = deps;
    this.#gracefulTimeout = gracefulTimeout;
    this.#member = `${source.consumer ?? ''}@${randomBytes(4).toString('hex')}`;
    const group = source.group;
    if (group !== undefined) this.#store = deps.strategy.leases?.(source.name, group) ?? new RedisLeaseStore(deps.strategy.commands, source.name, group);
  }

  /** Resolves once the partition count is checked and this instance reads its first share. */
  async start(): Promise<void> {
    if (this.#running) return;
    await this.#deps.producer.checkPartitions(this.name, this.#partitions);
    const all = Array.from({ length: this.#partitions }, (_, index) => index);
    if (!this.#store) {
      // Every partition or none: there are no rounds to retry one that failed.
      const readers = all.map((index) => new StreamSubscriber(this.#source.partitionSource(index), this.#deps));
      const started = await Promise.allSettled(readers.map((reader) => reader.start()));
      const failed = started.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
      if (failed) {
        await Promise.all(readers.map((reader) => reader.stop(0)));
        throw failed.reason;
      }
      readers.forEach((reader, index) => this.#readers.set(index, reader));
      this.#running = true;
      return;
    }
    // Every partition's group exists from now on, owned or not: nothing written meanwhile is skipped.
    if (this.#source.declare) await Promise.all(all.map((index) => createGroup(this.#deps.strategy.commands, this.#source.partitionSource(index))));
    this.#running = true;
    this.#round = this.#balance();
    await this.#round;
    await Promise.all(this.#steps.values());
    this.#schedule();
  }

  async stop(gracefulTimeout: number): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    clearTimeout(this.#timer);
    clearTimeout(this.#fence);
    await this.#round;
    for (const index of [...this.#wanted, ...this.#readers.keys()]) this.#close(index, gracefulTimeout);
    this.#wanted.clear();
    await Promise.all(this.#steps.values());
    const held = [...this.#held];
    this.#held = new Set();
    // Released only now that nothing reads them: the next owner takes over what is still pending.
    await this.#store?.leave(this.#member, this.#source.leaseTime, held).catch((error: unknown) => {
      this.#deps.logger.warn(
        { subscriber: this.name, err: error },
        `Could not release the leases of ${held.length} partitions (${(error as Error).message}); they pass to other instances when they expire.`,
      );
    });
  }

  #schedule(): void {
    if (!this.#running) return;
    const lease = this.#source.leaseTime;
    // Short of its share (others still releasing) or over it: look again soon.
    const next = this.#balanced ? lease / 4 : Math.max(50, lease / 20);
    this.#timer = setTimeout(() => {
      this.#round = this.#balance().finally(() => this.#schedule());
    }, next);
    this.#timer.unref();
  }

  /**
   * One round: renew, take the free share, give up the surplus. It only queues the readers'
   * starts and stops (see #steps), so a slow handler in a partition being given up never delays
   * the renewal of the others.
   */
  async #balance(): Promise<void> {
    if (!this.#running) return;
    const store = this.#store!;
    const lease = this.#source.leaseTime;
    const started = Date.now();
    let changes: readonly LeaseChange[];
    let applied: boolean[];
    let surplus: readonly number[];
    let share: number;
    try {
      const state = await store.read(this.#member, lease);
      ({ changes, surplus, share } = plan(state, this.#member, this.#partitions, this.#wanted));
      applied = await store.write(this.#member, lease, changes);
    } catch (error) {
      this.#deps.logger.warn({ subscriber: this.name, err: error }, `Could not renew the partition leases: ${(error as Error).message}`);
      this.#balanced = false;
      return;
    }
    const held = new Set(changes.filter((_, i) => applied[i]).map((change) => change.partition));
    // Known even when nothing is opened below, so that stop() drops them.
    this.#held = held;
    // A renewal that took so long that the fence is due counts as none: the fence stops the readers.
    if (!this.#arm(started + lease) || !this.#running) return;
    const lost = [...this.#wanted].filter((index) => !held.has(index));
    if (lost.length > 0) {
      this.#deps.logger.warn({ subscriber: this.name }, `Lost the leases of partitions ${lost.join(', ')} (they expired): stopped reading them.`);
    }
    for (const index of lost) this.#close(index, this.#gracefulTimeout);
    const giving = surplus.filter((index) => held.has(index) && !this.#releasing.has(index));
    for (const index of giving) this.#release(index);
    for (const index of held) {
      if (!this.#wanted.has(index) && !this.#releasing.has(index)) this.#open(index);
    }
    this.#balanced = giving.length === 0 && this.#releasing.size === 0 && held.size === share;
  }

  /**
   * Sets the fence: unless a later round renews the leases, every reader stops an eighth of the
   * lease time before they can expire (by this process's clock, measured from before the renewal
   * was sent), so no two instances read a partition at once while clocks run at one rate. False
   * when that moment has passed already.
   */
  #arm(validUntil: number): boolean {
    clearTimeout(this.#fence);
    const left = validUntil - this.#source.leaseTime / 8 - Date.now();
    const fence = (): void => {
      if (!this.#running || this.#wanted.size === 0) return;
      this.#deps.logger.warn({ subscriber: this.name }, `Could not renew the partition leases in time: stopped reading ${this.#wanted.size} partitions until they are renewed.`);
      for (const index of [...this.#wanted]) this.#close(index, this.#gracefulTimeout);
    };
    if (left <= 0) {
      fence();
      return false;
    }
    this.#fence = setTimeout(fence, left);
    this.#fence.unref();
    return true;
  }

  /** Queues a step of one partition after the ones before it; a failing step is logged, never thrown. */
  #step(index: number, step: () => Promise<void>): void {
    const next = (this.#steps.get(index) ?? Promise.resolve())
      .then(step)
      .catch((error: unknown) => {
        this.#deps.logger.error({ subscriber: this.name, err: error }, `Partition ${this.#source.partition(index)}: ${(error as Error).message}`);
      })
      .finally(() => {
        if (this.#steps.get(index) === next) this.#steps.delete(index);
      });
    this.#steps.set(index, next);
  }

  /**
   * Starts reading a partition. A new owner first claims every entry still pending in the group
   * (the last owner's unacknowledged ones), so its reader drains them before reading new ones.
   */
  #open(index: number): void {
    this.#wanted.add(index);
    this.#step(index, async () => {
      // Closed again (or stopped) before its turn came.
      if (!this.#wanted.has(index) || this.#readers.has(index)) return;
      const source = this.#source.partitionSource(index);
      // The partition's only reader while the lease is ours: it may read ahead of its workers.
      const reader = new StreamSubscriber(source, this.#deps, true);
      try {
        await this.#claimPending(source.name);
        await reader.start();
      } catch (error) {
        // Opened again by the next round that finds the lease still ours.
        this.#wanted.delete(index);
        await reader.stop(0);
        throw new Error(`could not start reading: ${(error as Error).message}`, { cause: error });
      }
      this.#readers.set(index, reader);
    });
  }

  #close(index: number, gracefulTimeout: number): void {
    this.#wanted.delete(index);
    this.#step(index, async () => {
      if (this.#wanted.has(index)) return; // wanted again before its turn came
      const reader = this.#readers.get(index);
      if (!reader) return;
      this.#readers.delete(index);
      await reader.stop(gracefulTimeout);
    });
  }

  /** Gives a surplus partition up: its reader stops (in-flight work finishes), then its lease is dropped for the next owner. */
  #release(index: number): void {
    this.#releasing.add(index);
    this.#close(index, this.#gracefulTimeout);
    this.#step(index, async () => {
      try {
        // Dropped even while stopping (stop() waits for this step), so the next owner need not wait for it to expire.
        await this.#store!.write(this.#member, this.#source.leaseTime, [{ op: 'drop', partition: index }]);
        this.#held.delete(index);
      } finally {
        this.#releasing.delete(index);
      }
    });
  }

  /** XAUTOCLAIM … 0 JUSTID until the whole PEL is ours (JUSTID: the drain's read counts the delivery). */
  async #claimPending(key: string): Promise<void> {
    const { commands } = this.#deps.strategy;
    const group = this.#source.group!;
    const consumer = this.#source.consumer!;
    let cursor = '0-0';
    do {
      let reply: unknown[];
      try {
        reply = (await commands.send('XAUTOCLAIM', key, [key, group, consumer, 0, cursor, 'COUNT', 1000, 'JUSTID'])) as unknown[];
      } catch (error) {
        if ((error as Error).message.startsWith('NOGROUP')) return; // the reader recreates the group
        throw error;
      }
      cursor = String(reply[0]);
    } while (cursor !== '0-0');
  }
}
