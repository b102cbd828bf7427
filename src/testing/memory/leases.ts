import { parseLease, type Lease, type LeaseChange, type LeaseState, type LeaseStore } from '../../redis/subscriber/leases.js';

/** One group's lease table in the in-memory Redis: what the Redis scripts keep in a sorted set and a hash. */
export class MemoryLeaseTable {
  /** Member → when its membership expires. */
  readonly members = new Map<string, number>();
  /** Partition → `expiry|member`. */
  readonly leases = new Map<number, string>();
}

/** The lease store of the in-memory test broker: the same rules as the Redis scripts (../../redis/subscriber/leases.ts), by this process's clock. */
export class MemoryLeaseStore implements LeaseStore {
  readonly #table: MemoryLeaseTable;

  constructor(table: MemoryLeaseTable) {
    this.#table = table;
  }

  read(member: string, leaseTime: number): Promise<LeaseState> {
    const now = Date.now();
    const { members, leases } = this.#table;
    for (const [name, expires] of members) if (expires <= now) members.delete(name);
    members.set(member, now + leaseTime);
    const table = new Map<number, Lease>([...leases].map(([partition, raw]) => [partition, parseLease(raw)]));
    return Promise.resolve({ now, members: [...members.keys()], leases: table });
  }

  write(member: string, leaseTime: number, changes: readonly LeaseChange[]): Promise<boolean[]> {
    const value = `${Date.now() + leaseTime}|${member}`;
    const { leases } = this.#table;
    return Promise.resolve(
      changes.map((change) => {
        const current = leases.get(change.partition) ?? '';
        const mine = current !== '' && parseLease(current).member === member;
        if (change.op === 'drop') return mine && leases.delete(change.partition);
        if (change.op === 'take' ? current !== change.expected : !mine) return false;
        leases.set(change.partition, value);
        return true;
      }),
    );
  }

  async leave(member: string, leaseTime: number, partitions: readonly number[]): Promise<void> {
    await this.write(member, leaseTime, partitions.map((partition) => ({ op: 'drop', partition })));
    this.#table.members.delete(member);
  }
}
