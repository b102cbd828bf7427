/** What the partitioned-stream tests read from Redis: pending entries and the lease table. */
import { partitionKey } from '../../src/index.js';
import { leaseKeys } from '../../src/redis/subscriber/leases.js';
import type { RawClient } from './redis.js';

/** Whether group `g` has nothing pending on any partition of `name`. */
export async function nothingPending(raw: RawClient, name: string, partitions: number): Promise<boolean> {
  for (let p = 0; p < partitions; p += 1) if (((await raw.xpending(partitionKey(name, p), 'g')) as [number])[0] !== 0) return false;
  return true;
}

/** How many partitions each consumer holds a lease on, by group `g`'s lease table in Redis (an instance is `<consumer>@<token>` there). */
export async function leaseHolders(raw: RawClient, stream: string): Promise<Map<string, number>> {
  const table = await raw.hgetall(leaseKeys(stream, 'g').leases);
  const counts = new Map<string, number>();
  for (const value of Object.values(table)) {
    const member = value.slice(value.indexOf('|') + 1);
    const consumer = member.includes('@') ? member.slice(0, member.lastIndexOf('@')) : member;
    counts.set(consumer, (counts.get(consumer) ?? 0) + 1);
  }
  return counts;
}
