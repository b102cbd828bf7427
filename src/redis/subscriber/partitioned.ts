/**
 * A subscriber of a partitioned stream: one stream reader per partition it reads, each a plain
 * group (or no-group) reader of that partition's key with its own workers, so messages of one key
 * keep their order with `maxWorkers: 1`. With a group, the instances share the partitions through
 * leases (./leases.ts); without one, every subscriber reads every partition.
 */
import type { StreamSub } from '../sources.js';
import { plan, RedisLeaseStore, type LeaseChange, type LeaseStore } from './leases.js';
import type { LoopDeps, RuntimeSubscriber } from './runtime.js';
import { StreamSubscriber } from './stream.js';

/** Runs the partitions of one partitioned StreamSub this instance holds. */
export class PartitionedSubscriber implements RuntimeSubscriber {
  readonly name: string;
  readonly #source: StreamSub<boolean>;
  readonly #partitions: number;
  readonly #deps: LoopDeps;
  readonly #gracefulTimeout: number;
  /** Undefined without a group: every partition is read. */
  readonly #store: LeaseStore | undefined;
  readonly #member: string;
  readonly #readers = new Map<number, StreamSubscriber>();
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
    this.#member = source.consumer ?? '';
    const group = source.group;
    if (group !== undefined) this.#store = deps.strategy.leases?.(source.name, group) ?? new RedisLeaseStore(deps.strategy.commands, source.name, group);
  }

  /** The partitions this instance reads now. */
  get reading(): number[] {
    return [...this.#readers.keys()].sort((a, b) => a - b);
  }

  /** Resolves once the partition count is checked and this instance reads its first share. */
  async start(): Promise<void> {
    if (this.#running) return;
    await this.#deps.producer.checkPartitions(this.name, this.#partitions);
    const all = Array.from({ length: this.#partitions }, (_, index) => index);
    this.#running = true;
    if (!this.#store) {
      await Promise.all(all.map((index) => this.#open(index, false)));
      return;
    }
    // Every partition's group exists from now on, owned or not: nothing written meanwhile is skipped.
    if (this.#source.declare) await Promise.all(all.map((index) => this.#createGroup(this.#source.partition(index))));
    await this.#balance();
    this.#schedule();
  }

  async stop(gracefulTimeout: number): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    clearTimeout(this.#timer);
    clearTimeout(this.#fence);
    await this.#round;
    await Promise.all([...this.#readers.keys()].map((index) => this.#close(index, gracefulTimeout)));
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

  /** One round: renew, take the free share, give up the surplus (after its readers stopped). */
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
      ({ changes, surplus, share } = plan(state, this.#member, this.#partitions, new Set(this.#readers.keys())));
      applied = await store.write(this.#member, lease, changes);
    } catch (error) {
      this.#deps.logger.warn({ subscriber: this.name, err: error }, `Could not renew the partition leases: ${(error as Error).message}`);
      this.#balanced = false;
      return;
    }
    this.#arm(started + lease);
    const held = new Set(changes.filter((_, i) => applied[i]).map((change) => change.partition));
    this.#held = held;
    const giving = surplus.filter((index) => held.has(index));
    const lost = [...this.#readers.keys()].filter((index) => !held.has(index));
    if (lost.length > 0) {
      this.#deps.logger.warn({ subscriber: this.name }, `Lost the leases of partitions ${lost.join(', ')} (they expired): stopped reading them.`);
    }
    const gained = [...held].filter((index) => !this.#readers.has(index) && !giving.includes(index));
    await Promise.all([
      ...lost.map((index) => this.#close(index, this.#gracefulTimeout)),
      ...gained.map((index) => this.#open(index, true)),
      this.#release(giving),
    ]);
    this.#balanced = giving.length === 0 && held.size === share;
  }

  /**
   * Sets the fence: unless a later round renews the leases, every reader stops an eighth of the
   * lease time before they can expire (by this process's clock, measured from before the renewal
   * was sent), so no two instances read a partition at once while clocks run at one rate.
   */
  #arm(validUntil: number): void {
    clearTimeout(this.#fence);
    const lease = this.#source.leaseTime;
    this.#fence = setTimeout(() => {
      if (!this.#running || this.#readers.size === 0) return;
      this.#deps.logger.warn({ subscriber: this.name }, `Could not renew the partition leases in time: stopped reading ${this.#readers.size} partitions until they are renewed.`);
      this.#held = new Set();
      for (const index of [...this.#readers.keys()]) void this.#close(index, this.#gracefulTimeout);
    }, Math.max(0, validUntil - lease / 8 - Date.now()));
    this.#fence.unref();
  }

  /** Stops reading the surplus partitions, then drops their leases for the next owner. */
  async #release(partitions: readonly number[]): Promise<void> {
    if (partitions.length === 0) return;
    await Promise.all(partitions.map((index) => this.#close(index, this.#gracefulTimeout)));
    const drops = partitions.map((partition): LeaseChange => ({ op: 'drop', partition }));
    await this.#store!.write(this.#member, this.#source.leaseTime, drops).catch(() => undefined);
    for (const index of partitions) this.#held.delete(index);
  }

  /**
   * Starts reading a partition. A new owner first claims every entry still pending in the group
   * (the last owner's unacknowledged ones), so its reader drains them before reading new ones.
   */
  async #open(index: number, claim: boolean): Promise<void> {
    const source = this.#source.partitionSource(index);
    const reader = new StreamSubscriber(source, this.#deps);
    this.#readers.set(index, reader);
    try {
      if (claim) await this.#claimPending(source.name);
      await reader.start();
    } catch (error) {
      // Tried again next round, while the lease is still ours.
      this.#readers.delete(index);
      await reader.stop(0);
      this.#deps.logger.error({ subscriber: this.name, err: error }, `Could not start reading partition ${source.name}: ${(error as Error).message}`);
    }
  }

  async #close(index: number, gracefulTimeout: number): Promise<void> {
    const reader = this.#readers.get(index);
    if (!reader) return;
    this.#readers.delete(index);
    await reader.stop(gracefulTimeout);
  }

  /** XAUTOCLAIM … 0 JUSTID until the whole PEL is ours (JUSTID: the drain's read counts the delivery). */
  async #claimPending(key: string): Promise<void> {
    const { commands } = this.#deps.strategy;
    const group = this.#source.group!;
    let cursor = '0-0';
    do {
      let reply: unknown[];
      try {
        reply = (await commands.send('XAUTOCLAIM', key, [key, group, this.#member, 0, cursor, 'COUNT', 1000, 'JUSTID'])) as unknown[];
      } catch (error) {
        if ((error as Error).message.startsWith('NOGROUP')) return; // the reader recreates the group
        throw error;
      }
      cursor = String(reply[0]);
    } while (cursor !== '0-0');
  }

  async #createGroup(key: string): Promise<void> {
    const args = ['CREATE', key, this.#source.group!, this.#source.lastId, 'MKSTREAM'];
    await this.#deps.strategy.commands.send('XGROUP', key, args).catch((error: unknown) => {
      if (!(error as Error).message.startsWith('BUSYGROUP')) throw error;
    });
  }
}
