/**
 * Partitioned streams on every target: keyed publishes land in their key's partition, one key's
 * messages keep their order, a group's instances share the partitions through leases in Redis, a
 * new owner first finishes what the last one left pending, and publishers and subscribers agree on
 * the count. The multi-process kill test is in chaos.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { OptionError, partitionKey, partitionOf, StreamSub, type Message } from '../../src/index.js';
import { leaseKeys, RedisLeaseStore } from '../../src/redis/subscriber/leases.js';
import { leaseHolders, nothingPending } from '../helpers/partitions.js';
import { realTargets, targets, uid, type RawClient } from '../helpers/redis.js';
import { eventually, Inbox } from '../helpers/wait.js';

interface Order {
  readonly key: string;
  readonly seq: number;
}

/** Every key's sequence numbers, in the order they were handled. */
function perKey(orders: readonly Order[]): Map<string, number[]> {
  const byKey = new Map<string, number[]>();
  for (const { key, seq } of orders) byKey.set(key, [...(byKey.get(key) ?? []), seq]);
  return byKey;
}

function ascending(seqs: readonly number[]): boolean {
  return seqs.every((seq, i) => i === 0 || seq > seqs[i - 1]!);
}

/** Lease holders as a plain object, for comparing with an expected split. */
async function holders(raw: RawClient, stream: string): Promise<Record<string, number>> {
  return Object.fromEntries(await leaseHolders(raw, stream));
}


describe.each(targets)('partitioned streams on $name', ({ makeBroker, rawClient }) => {
  it('a keyed publish goes to its key’s partition, and one subscriber reads all of them, each key in order', async () => {
    const name = uid('parts');
    const broker = makeBroker();
    const got = new Inbox<Order>();
    broker.subscriber(new StreamSub(name, { partitions: 8, group: 'g', consumer: 'c1' }), (order: Order) => got.push(order));
    await broker.start();
    const target = new StreamSub(name, { partitions: 8 });
    const sent: Order[] = [];
    for (let seq = 0; seq < 200; seq += 1) sent.push({ key: `customer-${seq % 20}`, seq });
    await Promise.all(sent.map((order) => broker.publish(order, { stream: target, key: order.key })));
    await got.take(200);
    for (const seqs of perKey(got.items).values()) expect(ascending(seqs)).toBe(true);
    expect(perKey(got.items).size).toBe(20);

    const raw = rawClient();
    for (let p = 0; p < 8; p += 1) {
      const expected = sent.filter((order) => partitionOf(order.key, 8) === p).length;
      expect(await raw.xlen(partitionKey(name, p))).toBe(expected);
    }
    await eventually(() => nothingPending(raw, name, 8), undefined, 'every entry acknowledged');
  });

  it('with maxWorkers 1, each partition runs its messages one at a time and in order, however many a read brings', async () => {
    const name = uid('ahead');
    const broker = makeBroker();
    const target = new StreamSub(name, { partitions: 2 });
    // Published before anyone reads: each read finds up to maxRecords waiting.
    for (let seq = 0; seq < 100; seq += 1) await broker.publish({ key: `k${seq % 10}`, seq }, { stream: target, key: `k${seq % 10}` });
    const got = new Inbox<Order>();
    const running = new Map<number, number>();
    let overlapped = false;
    broker.subscriber(new StreamSub(name, { partitions: 2, group: 'g', consumer: 'c', lastId: '0', maxRecords: 50 }), async (order: Order) => {
      const partition = partitionOf(order.key, 2);
      running.set(partition, (running.get(partition) ?? 0) + 1);
      if (running.get(partition)! > 1) overlapped = true;
      await new Promise((resolve) => setImmediate(resolve)); // the handler's own asynchronous work
      running.set(partition, running.get(partition)! - 1);
      got.push(order);
    });
    await broker.start();
    await got.take(100);
    expect(overlapped).toBe(false);
    for (const seqs of perKey(got.items).values()) expect(ascending(seqs)).toBe(true);
    await eventually(() => nothingPending(rawClient(), name, 2), undefined, 'every entry acknowledged');
  });

  it('a batch subscriber gets batches of one partition each, keys in order', async () => {
    const name = uid('batches');
    const broker = makeBroker();
    const target = new StreamSub(name, { partitions: 2 });
    for (let seq = 0; seq < 40; seq += 1) await broker.publish({ key: `k${seq % 6}`, seq }, { stream: target, key: `k${seq % 6}` });
    const batches = new Inbox<Order[]>();
    broker.subscriber(new StreamSub(name, { partitions: 2, group: 'g', consumer: 'c', lastId: '0', batch: true, maxRecords: 10 }), (orders: Order[]) => batches.push(orders));
    await broker.start();
    await batches.until((all) => all.flat().length >= 40);
    for (const batch of batches.items) expect(new Set(batch.map((order) => partitionOf(order.key, 2))).size).toBe(1);
    for (const seqs of perKey(batches.items.flat()).values()) expect(ascending(seqs)).toBe(true);
    expect(batches.items.flat()).toHaveLength(40);
  });

  it('a message nacked on its last allowed delivery is dead-lettered into its partition’s stream', async () => {
    const name = uid('spent');
    const broker = makeBroker();
    const deliveries = new Inbox<number>();
    const source = new StreamSub(name, { partitions: 2, group: 'g', consumer: 'c', minIdleTime: 50, maxDeliveries: 2, deadLetter: 'dlq' });
    broker.subscriber(source, async (_order: Order, msg: Message) => {
      deliveries.push(msg.deliveryCount ?? 1);
      await msg.nack();
    });
    await broker.start();
    await broker.publish({ key: 'k1', seq: 0 }, { stream: new StreamSub(name, { partitions: 2 }), key: 'k1' });
    expect(await deliveries.take(2)).toEqual([1, 2]);
    const raw = rawClient();
    await eventually(async () => (await raw.xlen(`${source.partition(partitionOf('k1', 2))}:dlq`)) === 1, undefined, 'the dead letter');
    await eventually(() => nothingPending(raw, name, 2), undefined, 'the entry acknowledged away');
  });

  it('a publisher object sends to the partition of the key given per publish', async () => {
    const name = uid('publisher');
    const broker = makeBroker();
    const publisher = broker.publisher(new StreamSub(name, { partitions: 4 }));
    await broker.connect();
    await publisher.publish({ n: 1 }, { key: 'customer-7' });
    const raw = rawClient();
    expect(await raw.xlen(partitionKey(name, partitionOf('customer-7', 4)))).toBe(1);
  });

  it('stop() leaves what a partition read ahead pending, and the next owner runs it in order', async () => {
    const name = uid('handover');
    const target = new StreamSub(name, { partitions: 1 });
    const source = (consumer: string) => new StreamSub(name, { partitions: 1, group: 'g', consumer, maxRecords: 20 });
    const first = makeBroker();
    const started = new Inbox<number>();
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    first.subscriber(source('first'), async (order: Order) => {
      started.push(order.seq);
      await gate; // the first message holds the only worker while the rest arrive
    });
    await first.start();
    await first.publish({ key: 'k', seq: 0 }, { stream: target, key: 'k' });
    expect(await started.next()).toBe(0);
    for (let seq = 1; seq <= 10; seq += 1) await first.publish({ key: 'k', seq }, { stream: target, key: 'k' });
    const stopping = first.stop();
    release();
    await stopping;
    expect(started.items).toEqual([0]);

    const next = makeBroker();
    const got = new Inbox<number>();
    next.subscriber(source('next'), (order: Order) => got.push(order.seq));
    await next.start();
    expect(await got.take(10)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('publishes without a key take turns over the partitions', async () => {
    const name = uid('turns');
    const broker = makeBroker();
    const target = new StreamSub(name, { partitions: 4 });
    for (let i = 0; i < 12; i += 1) await broker.publish({ i }, { stream: target });
    const raw = rawClient();
    for (let p = 0; p < 4; p += 1) expect(await raw.xlen(partitionKey(name, p))).toBe(3);
  });

  it('refuses a key for a stream without partitions, and a partition count other than the stream’s', async () => {
    const name = uid('count');
    const broker = makeBroker();
    await expect(broker.publish('x', { stream: name, key: 'k' })).rejects.toMatchObject({ option: 'key' });
    broker.subscriber(new StreamSub(name, { partitions: 8, group: 'g', consumer: 'c' }), () => undefined);
    await broker.start();
    const wrong = broker.publish('x', { stream: new StreamSub(name, { partitions: 4 }), key: 'k' });
    await expect(wrong).rejects.toBeInstanceOf(OptionError);
    await expect(wrong).rejects.toMatchObject({ option: 'partitions', value: 4 });
    await expect(wrong).rejects.toThrow(/8, the count stream/);

    const other = makeBroker();
    other.subscriber(new StreamSub(name, { partitions: 16, group: 'g', consumer: 'c2' }), () => undefined);
    await expect(other.start()).rejects.toMatchObject({ option: 'partitions', value: 16 });
  });

  it('without a group, every subscriber reads every partition', async () => {
    const name = uid('fanout');
    const [a, b] = [makeBroker(), makeBroker()];
    const gotA = new Inbox<Order>();
    const gotB = new Inbox<Order>();
    a.subscriber(new StreamSub(name, { partitions: 4 }), (order: Order) => gotA.push(order));
    b.subscriber(new StreamSub(name, { partitions: 4 }), (order: Order) => gotB.push(order));
    await Promise.all([a.start(), b.start()]);
    for (let seq = 0; seq < 40; seq += 1) await a.publish({ key: `k${seq % 5}`, seq }, { stream: new StreamSub(name, { partitions: 4 }), key: `k${seq % 5}` });
    for (const got of [gotA, gotB]) {
      await got.take(40);
      for (const seqs of perKey(got.items).values()) expect(ascending(seqs)).toBe(true);
    }
  });

  it('a new owner first handles, in order, what the last owner left pending', async () => {
    const name = uid('heir');
    const raw = rawClient();
    const publisher = makeBroker();
    const target = new StreamSub(name, { partitions: 4 });
    for (let p = 0; p < 4; p += 1) await raw.xgroup('CREATE', partitionKey(name, p), 'g', '$', 'MKSTREAM');
    for (let seq = 0; seq < 12; seq += 1) await publisher.publish({ key: `k${seq % 3}`, seq }, { stream: target, key: `k${seq % 3}` });
    // A consumer that died holding them: read, never acknowledged.
    for (let p = 0; p < 4; p += 1) await raw.xreadgroup('GROUP', 'g', 'gone', 'COUNT', 100, 'STREAMS', partitionKey(name, p), '>');

    const heir = makeBroker();
    const got = new Inbox<Order>();
    heir.subscriber(new StreamSub(name, { partitions: 4, group: 'g', consumer: 'heir' }), (order: Order, msg: Message) => {
      got.push(order);
      expect(msg.source.name).toBe(partitionKey(name, partitionOf(order.key, 4)));
    });
    await heir.start();
    for (let seq = 12; seq < 24; seq += 1) await publisher.publish({ key: `k${seq % 3}`, seq }, { stream: target, key: `k${seq % 3}` });
    await got.take(24);
    for (const seqs of perKey(got.items).values()) expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(got.items.map((order) => order.seq).sort((x, y) => x - y)).toEqual(Array.from({ length: 24 }, (_, i) => i));
    await eventually(() => nothingPending(raw, name, 4), undefined, 'the heir acknowledged everything');
  });

  it('a rejected message is dead-lettered into its partition’s own dead-letter stream', async () => {
    const name = uid('dlq');
    const broker = makeBroker();
    const rejected = new Inbox<string>();
    broker.subscriber(new StreamSub(name, { partitions: 4, group: 'g', consumer: 'c', deadLetter: 'dlq' }), async (body: Order, msg: Message) => {
      await msg.reject(new Error('bad order'));
      rejected.push(body.key);
    });
    await broker.start();
    await broker.publish({ key: 'k7', seq: 1 }, { stream: new StreamSub(name, { partitions: 4 }), key: 'k7' });
    await rejected.next();
    const raw = rawClient();
    const dlq = `${partitionKey(name, partitionOf('k7', 4))}:dlq`;
    await eventually(async () => (await raw.xlen(dlq)) === 1, undefined, `a dead letter in ${dlq}`);
  });
});

describe.each(realTargets)('partition leases on $name', ({ makeBroker, rawClient }) => {
  it('two instances of a group share the partitions, and the one left takes them all when the other stops', async () => {
    const name = uid('share');
    const raw = rawClient();
    const handled = new Inbox<{ by: string; order: Order }>();
    const instance = (consumer: string) => {
      const broker = makeBroker();
      broker.subscriber(new StreamSub(name, { partitions: 8, group: 'g', consumer, leaseTime: 1000 }), (order: Order) => handled.push({ by: consumer, order }));
      return broker;
    };
    const a = instance('a');
    await a.start();
    expect(await holders(raw, name)).toEqual({ a: 8 });
    const b = instance('b');
    await b.start();
    await eventually(async () => JSON.stringify(await holders(raw, name)) === JSON.stringify({ a: 4, b: 4 }), undefined, 'a 4/4 split');

    const target = new StreamSub(name, { partitions: 8 });
    for (let seq = 0; seq < 80; seq += 1) await a.publish({ key: `k${seq % 16}`, seq }, { stream: target, key: `k${seq % 16}` });
    await handled.take(80);
    expect(new Set(handled.items.map(({ by }) => by))).toEqual(new Set(['a', 'b']));
    // One key, one instance, in order.
    for (let key = 0; key < 16; key += 1) {
      const mine = handled.items.filter(({ order }) => order.key === `k${key}`);
      expect(new Set(mine.map(({ by }) => by)).size).toBe(1);
      expect(ascending(mine.map(({ order }) => order.seq))).toBe(true);
    }

    await b.stop();
    await eventually(async () => JSON.stringify(await holders(raw, name)) === JSON.stringify({ a: 8 }), undefined, 'a holding all 8');
    for (let seq = 80; seq < 120; seq += 1) await a.publish({ key: `k${seq % 16}`, seq }, { stream: target, key: `k${seq % 16}` });
    await handled.take(120);
    expect(handled.items.slice(80).every(({ by }) => by === 'a')).toBe(true);
    expect(new Set(handled.items.map(({ order }) => order.seq)).size).toBe(120);
  });

  it('two instances given one consumer name still hold different partitions', async () => {
    const name = uid('twins');
    const raw = rawClient();
    const handled = new Inbox<{ by: string; order: Order }>();
    const twins = ['left', 'right'].map((by) => {
      const broker = makeBroker();
      broker.subscriber(new StreamSub(name, { partitions: 8, group: 'g', consumer: 'same', leaseTime: 1000 }), (order: Order) => handled.push({ by, order }));
      return broker;
    });
    for (const broker of twins) await broker.start();
    const instances = async (): Promise<Set<string>> => new Set(Object.values(await raw.hgetall(leaseKeys(name, 'g').leases)).map((value) => value.slice(value.indexOf('|') + 1)));
    await eventually(async () => (await instances()).size === 2 && JSON.stringify(await holders(raw, name)) === JSON.stringify({ same: 8 }), undefined, 'two instances holding 4 each');
    for (let seq = 0; seq < 40; seq += 1) await twins[0]!.publish({ key: `k${seq % 8}`, seq }, { stream: new StreamSub(name, { partitions: 8 }), key: `k${seq % 8}` });
    await handled.take(40);
    expect(new Set(handled.items.map(({ order }) => order.seq)).size).toBe(40);
    for (let key = 0; key < 8; key += 1) expect(new Set(handled.items.filter(({ order }) => order.key === `k${key}`).map(({ by }) => by)).size).toBe(1);
  });

  it('the partitions of an instance that died pass to the others once its lease expired, not before', async () => {
    const name = uid('ghost');
    const raw = rawClient();
    const ghost = new RedisLeaseStore({ send: (command, _key, args) => raw.call(command, ...args) }, name, 'g');
    const { now } = await ghost.read('ghost', 1500);
    expect(await ghost.write('ghost', 1500, [0, 1, 2, 3].map((partition) => ({ op: 'take' as const, partition, expected: '' })))).toEqual([true, true, true, true]);

    const heir = makeBroker();
    const handledAt = new Inbox<number>();
    heir.subscriber(new StreamSub(name, { partitions: 4, group: 'g', consumer: 'heir', leaseTime: 1000 }), () => handledAt.push(Date.now()));
    await heir.start();
    for (let p = 0; p < 4; p += 1) await heir.publish({ p }, { stream: new StreamSub(name, { partitions: 4 }) });
    const times = await handledAt.take(4, 10_000);
    // Redis's clock and ours are one machine's clock.
    for (const time of times) expect(time).toBeGreaterThanOrEqual(now + 1500);
    expect(await holders(raw, name)).toEqual({ heir: 4 });
  });
});
