/**
 * Partitioned streams under process churn, on the 3-master cluster: three consumer processes share
 * 16 partitions; while 20,000 messages over 500 keys are published, one is killed with SIGKILL and
 * a fourth joins. Every message is processed at least once, each key's first deliveries keep their
 * order, and the partitions are shared out again within twice the lease time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { Cluster } from 'ioredis';
import { partitionKey, slotOf, StreamSub } from '../../src/index.js';
import { leaseKeys } from '../../src/redis/subscriber/leases.js';
import { realTargets, uid, type RawClient } from '../helpers/redis.js';
import { eventually, Inbox } from '../helpers/wait.js';

const consumerScript = fileURLToPath(new URL('../helpers/partition-consumer.ts', import.meta.url));
const LEASE = 2000;
const PARTITIONS = 16;

/** Members holding leases, with how many each, by the group's lease table. */
async function shares(raw: RawClient, stream: string): Promise<Map<string, number>> {
  const table = await raw.hgetall(leaseKeys(stream, 'g').leases);
  const counts = new Map<string, number>();
  for (const value of Object.values(table)) {
    const member = value.slice(value.indexOf('|') + 1);
    counts.set(member, (counts.get(member) ?? 0) + 1);
  }
  return counts;
}

/** Whether exactly `members` hold all partitions, in shares that differ by at most one. */
function balancedAmong(counts: Map<string, number>, members: readonly string[]): boolean {
  const held = [...counts.values()];
  return (
    counts.size === members.length &&
    members.every((member) => counts.has(member)) &&
    held.reduce((a, b) => a + b, 0) === PARTITIONS &&
    Math.max(...held) - Math.min(...held) <= 1
  );
}

// Other processes cannot reach the in-memory Redis; the single node has no masters to spread over.
describe.each(realTargets.filter((target) => target.name === 'cluster'))('partitioned stream with consumers killed and added, on $name', ({ url, makeBroker, rawClient }) => {
  it('processes every message at least once, keeps each key in order, and rebalances within twice the lease time', async () => {
    const stream = uid('kafka');
    const done = uid('done');
    const raw = rawClient();
    const publisher = makeBroker();
    const children: ChildProcess[] = [];
    onTestFinished(() => children.forEach((child) => child.kill('SIGKILL')));
    const launch = async (consumer: string): Promise<ChildProcess> => {
      const child = spawn(process.execPath, ['--import', 'tsx', consumerScript, url, stream, consumer, String(LEASE), done], { stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(child);
      const events = new Inbox<string>();
      child.stdout.once('data', () => events.push('ready'));
      child.once('exit', (code, signal) => events.push(`exit:${signal ?? code}`));
      expect(await events.next(30_000)).toBe('ready');
      return child;
    };

    const [c1] = await Promise.all(['c1', 'c2', 'c3'].map((consumer) => launch(consumer)));
    await eventually(async () => balancedAmong(await shares(raw, stream), ['c1', 'c2', 'c3']), 10_000, 'c1–c3 sharing the 16 partitions');
    const masters = new Map<string, number>();
    for (let p = 0; p < PARTITIONS; p += 1) {
      const master = (raw as Cluster).slots[slotOf(partitionKey(stream, p))]![0]!;
      masters.set(master, (masters.get(master) ?? 0) + 1);
    }
    console.log(`16 partitions: per master ${JSON.stringify(Object.fromEntries(masters))}, per consumer ${JSON.stringify(Object.fromEntries(await shares(raw, stream)))}`);

    const total = 20_000;
    const keys = 500;
    const target = new StreamSub(stream, { partitions: PARTITIONS });
    const publishing = (async () => {
      for (let i = 0; i < total; i += 250) {
        await Promise.all(Array.from({ length: 250 }, (_, j) => publisher.publish({ key: `key-${(i + j) % keys}`, seq: i + j }, { stream: target, key: `key-${(i + j) % keys}` })));
      }
    })();

    await eventually(async () => Number(await raw.get(`${done}:count`)) >= 4000, 30_000, '4,000 messages processed');
    const killedAt = Date.now();
    c1!.kill('SIGKILL');
    await launch('c4');
    const joinedAt = Date.now();
    await eventually(async () => balancedAmong(await shares(raw, stream), ['c2', 'c3', 'c4']), 4 * LEASE, 'c2–c4 sharing the 16 partitions');
    const rebalanced = Date.now();
    await publishing;

    await eventually(async () => Number(await raw.get(`${done}:count`)) >= total, 60_000, () => 'every message processed');
    await eventually(async () => {
      for (let p = 0; p < PARTITIONS; p += 1) if (((await raw.xpending(partitionKey(stream, p), 'g')) as [number])[0] !== 0) return false;
      return true;
    }, 20_000, 'nothing left pending');

    let processings = 0;
    let outOfOrder = 0;
    let missing = 0;
    for (let k = 0; k < keys; k += 1) {
      const seqs = (await raw.lrange(`${done}:key-${k}`, 0, -1)).map(Number);
      processings += seqs.length;
      const first = [...new Set(seqs)];
      outOfOrder += first.filter((seq, i) => i > 0 && seq < first[i - 1]!).length;
      missing += total / keys - first.length;
    }
    console.log(
      `partition chaos (16 partitions, 3 masters): ${total} messages over ${keys} keys, ${processings - total} processed twice; ` +
        `c1 killed with SIGKILL and c4 added, shares balanced again ${rebalanced - killedAt} ms after the kill ` +
        `(${rebalanced - joinedAt} ms after c4 was ready; lease ${LEASE} ms)`,
    );
    expect(missing).toBe(0);
    expect(outOfOrder).toBe(0);
    expect(rebalanced - killedAt).toBeLessThanOrEqual(2 * LEASE);
  }, 120_000);
});
