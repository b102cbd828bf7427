/**
 * Partitioned streams without Redis: the documented key-to-partition function, where partitions
 * land, option checks, and the lease plan every instance follows (run here against the in-memory
 * lease store, which keeps the same rules as the Redis scripts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OptionError, partitionKey, partitionOf, slotOf, StreamSub } from '../../src/index.js';
import { murmur2 } from '../../src/redis/hashtag.js';
import { plan, type LeaseStore } from '../../src/redis/subscriber/leases.js';
import { MemoryLeaseStore, MemoryLeaseTable } from '../../src/testing/memory/leases.js';

describe('the partition of a key', () => {
  it("is Kafka's murmur2 of the key, mod the partition count", () => {
    // Values of Kafka's Utils.murmur2 (its own unit test).
    const kafka: Record<string, number> = {
      '21': -973932308,
      foobar: -790332482,
      'a-little-bit-long-string': -985981536,
      'a-little-bit-longer-string': -1486304829,
      lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8: -58897971,
      abc: 479470107,
    };
    for (const [key, hash] of Object.entries(kafka)) {
      expect(murmur2(Buffer.from(key))).toBe(hash);
      expect(partitionOf(key, 16)).toBe((hash & 0x7fffffff) % 16);
    }
    expect(partitionOf('customer-42', 1)).toBe(0);
  });

  it('spreads sequential keys evenly enough', () => {
    const counts = new Array<number>(16).fill(0);
    for (let i = 0; i < 16_000; i += 1) counts[partitionOf(`customer-${i}`, 16)]! += 1;
    for (const count of counts) expect(Math.abs(count - 1000)).toBeLessThan(150);
  });

  it('has partition keys with a hash tag each, spread over three masters', () => {
    expect(partitionKey('orders', 3)).toBe('{orders:3}');
    expect(new StreamSub('orders', { partitions: 16 }).partition(15)).toBe('{orders:15}');
    // A 3-master cluster splits the slots 0–5460, 5461–10922, 10923–16383.
    const masters = [0, 0, 0];
    for (let p = 0; p < 16; p += 1) masters[Math.min(2, Math.floor(slotOf(partitionKey('orders', p)) / 5461))]! += 1;
    expect(masters).toEqual([6, 5, 5]);
  });
});

describe('partitioned StreamSub options', () => {
  it('refuse what cannot work, naming the option', () => {
    const refused = (options: object, name = 'orders'): string => {
      try {
        new StreamSub(name, options);
      } catch (error) {
        expect(error).toBeInstanceOf(OptionError);
        return (error as OptionError).option;
      }
      throw new Error('accepted');
    };
    expect(refused({ partitions: 0 })).toBe('partitions');
    expect(refused({ partitions: 1.5 })).toBe('partitions');
    expect(refused({ partitions: 5000 })).toBe('partitions');
    expect(refused({ partitions: 4 }, '{orders}')).toBe('partitions');
    expect(refused({ partitions: 4, leaseTime: 1000 })).toBe('leaseTime');
    expect(refused({ group: 'g', consumer: 'c', leaseTime: 1000 })).toBe('leaseTime');
    expect(refused({ partitions: 4, group: 'g', consumer: 'c', leaseTime: 10 })).toBe('leaseTime');
    expect(() => new StreamSub('orders', { partitions: 4 }).partition(4)).toThrow(OptionError);
  });

  it("put a partition's dead letters in its slot", () => {
    const source = new StreamSub('orders', { partitions: 4, group: 'g', consumer: 'c', deadLetter: 'dlq' }).partitionSource(2);
    expect(source.name).toBe('{orders:2}');
    expect(source.deadLetter).toBe('{orders:2}:dlq');
    expect(source.partitions).toBeUndefined();
  });
});

/** One round of `member` against `store`, as PartitionedSubscriber does it, reading what it held after the last. */
async function round(store: LeaseStore, member: string, partitions: number, reading: Set<number>): Promise<void> {
  const state = await store.read(member, 60_000);
  const { changes, surplus } = plan(state, member, partitions, reading);
  const applied = await store.write(member, 60_000, changes);
  const held = new Set(changes.filter((_, i) => applied[i]).map((change) => change.partition));
  const giving = surplus.filter((p) => held.has(p));
  await store.write(member, 60_000, giving.map((partition) => ({ op: 'drop', partition })));
  reading.clear();
  for (const p of held) if (!giving.includes(p)) reading.add(p);
}

describe('the lease plan', () => {
  it('converges on every partition read by exactly one member, shares differing by at most one', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 40 }), fc.array(fc.nat(), { minLength: 60, maxLength: 60 }), async (count, partitions, order) => {
        const table = new MemoryLeaseTable();
        const members = Array.from({ length: count }, (_, i) => `m${i}`);
        const reading = new Map(members.map((m) => [m, new Set<number>()]));
        const store = new MemoryLeaseStore(table);
        // Everyone registers, then rounds run in a random order.
        for (const member of members) await store.read(member, 60_000);
        for (const pick of order) await round(store, members[pick % count]!, partitions, reading.get(members[pick % count]!)!);
        // Then a few orderly rounds: it has settled.
        for (let pass = 0; pass < 3; pass += 1) for (const member of members) await round(store, member, partitions, reading.get(member)!);
        const owners = new Map<number, string>();
        for (const [member, set] of reading) {
          for (const p of set) {
            expect(owners.has(p)).toBe(false);
            owners.set(p, member);
          }
        }
        expect(owners.size).toBe(partitions);
        const sizes = [...reading.values()].map((set) => set.size);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      }),
      { numRuns: 200 },
    );
  });

  it('never takes a live lease: two members racing for the free partitions split them', async () => {
    const store = new MemoryLeaseStore(new MemoryLeaseTable());
    await store.read('a', 60_000);
    const b = await store.read('b', 60_000);
    // Both planned on the same state; a writes first.
    const forA = plan(b, 'a', 4, new Set());
    const forB = plan(b, 'b', 4, new Set());
    const tookA = await store.write('a', 60_000, forA.changes);
    const tookB = await store.write('b', 60_000, forB.changes);
    const held = (changes: typeof forA.changes, applied: boolean[]): number[] => changes.filter((_, i) => applied[i]).map((c) => c.partition);
    const both = [...held(forA.changes, tookA), ...held(forB.changes, tookB)];
    expect(new Set(both).size).toBe(both.length);
    // A member with nothing free waits: it never takes from a live holder.
    const c = plan(await store.read('c', 60_000), 'c', 4, new Set());
    const taking = c.changes.filter((change) => change.op === 'take').map((change) => change.partition);
    expect(taking).toEqual([0, 1, 2, 3].filter((p) => !both.includes(p)));
  });

  it('takes over an expired lease', async () => {
    const store = new MemoryLeaseStore(new MemoryLeaseTable());
    await store.read('dead', 1);
    await store.write('dead', 1, [{ op: 'take', partition: 0, expected: '' }]);
    // Its membership and its lease on 0 lasted 1 ms.
    await expect.poll(async () => (await store.read('alive', 60_000)).members).toEqual(['alive']);
    const state = await store.read('alive', 60_000);
    const { changes } = plan(state, 'alive', 1, new Set());
    expect(changes).toEqual([{ op: 'take', partition: 0, expected: state.leases.get(0)!.raw }]);
    expect(await store.write('alive', 60_000, changes)).toEqual([true]);
  });
});
