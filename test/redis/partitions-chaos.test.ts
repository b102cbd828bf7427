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
import { leaseHolders, nothingPending } from '../helpers/partitions.js';
import { realTargets, uid } from '../helpers/redis.js';
import { eventually, Inbox } from '../helpers/wait.js';

const consumerScript = fileURLToPath(new URL('../helpers/partition-consumer.ts', import.meta.url));
const LEASE = 2000;
const PARTITIONS = 16;

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
    /** Starts a consumer process; a held one starts consuming when `go()` is called. */
    const launch = (consumer: string, held = false) => {
      const args = [consumerScript, url, stream, consumer, String(LEASE), done, ...(held ? ['held'] : [])];
      const child = spawn(process.execPath, ['--import', 'tsx', ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
      children.push(child);
      const events = new Inbox<string>();
      child.stdout.on('data', (chunk: Buffer) => chunk.toString().trim().split('\n').forEach((line) => events.push(line)));
      child.once('exit', (code, signal) => events.push(`exit:${signal ?? code}`));
      return { child, events, go: () => void child.stdin.write('go\n') };
    };

    const first = ['c1', 'c2', 'c3'].map((consumer) => launch(consumer));
    const c4 = launch('c4', true);
    for (const { events } of first) expect(await events.next(30_000)).toBe('ready');
    expect(await c4.events.next(30_000)).toBe('spawned');
    await eventually(async () => balancedAmong(await leaseHolders(raw, stream), ['c1', 'c2', 'c3']), 10_000, 'c1–c3 sharing the 16 partitions');
    const masters = new Map<string, number>();
    for (let p = 0; p < PARTITIONS; p += 1) {
      const master = (raw as Cluster).slots[slotOf(partitionKey(stream, p))]![0]!;
      masters.set(master, (masters.get(master) ?? 0) + 1);
    }
    console.log(`16 partitions: per master ${JSON.stringify(Object.fromEntries(masters))}, per consumer ${JSON.stringify(Object.fromEntries(await leaseHolders(raw, stream)))}`);

    // About 2,500 messages a second, so that the kill and the join both happen while messages flow.
    const total = 20_000;
    const keys = 500;
    const target = new StreamSub(stream, { partitions: PARTITIONS });
    let published = 0;
    const publishing = (async () => {
      for (let i = 0; i < total; i += 100) {
        await Promise.all(Array.from({ length: 100 }, (_, j) => publisher.publish({ key: `key-${(i + j) % keys}`, seq: i + j }, { stream: target, key: `key-${(i + j) % keys}` })));
        published = i + 100;
        await new Promise((resolve) => setTimeout(resolve, 40)); // the publishing rate, not a wait for anything
      }
    })();

    await eventually(async () => Number(await raw.get(`${done}:count`)) >= 3000, 30_000, '3,000 messages processed');
    const killedAt = Date.now();
    first[0]!.child.kill('SIGKILL');
    expect(await first[0]!.events.next()).toBe('exit:SIGKILL');
    await eventually(async () => balancedAmong(await leaseHolders(raw, stream), ['c2', 'c3']), 4 * LEASE, 'c2 and c3 sharing the 16 partitions');
    const deathRebalance = Date.now() - killedAt;
    const joinedAt = Date.now();
    c4.go();
    expect(await c4.events.next(30_000)).toBe('ready');
    await eventually(async () => balancedAmong(await leaseHolders(raw, stream), ['c2', 'c3', 'c4']), 4 * LEASE, 'c2–c4 sharing the 16 partitions');
    const joinRebalance = Date.now() - joinedAt;
    const publishedAtJoin = published;
    await publishing;

    await eventually(async () => Number(await raw.get(`${done}:count`)) >= total, 60_000, () => 'every message processed');
    await eventually(() => nothingPending(raw, stream, PARTITIONS), 20_000, 'nothing left pending');

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
      `partition chaos (16 partitions, 3 masters, lease ${LEASE} ms): ${total} messages over ${keys} keys, ${processings - total} processed twice; ` +
        `c1 killed with SIGKILL: its partitions shared out ${deathRebalance} ms later; c4 joined (${publishedAtJoin} published by then): ` +
        `balanced ${joinRebalance} ms after it was told to start`,
    );
    expect(missing).toBe(0);
    expect(outOfOrder).toBe(0);
    expect(publishedAtJoin).toBeLessThan(total);
    expect(deathRebalance).toBeLessThanOrEqual(2 * LEASE);
    expect(joinRebalance).toBeLessThanOrEqual(2 * LEASE);
  }, 120_000);
});
