/**
 * Connections do not grow with subscribers: list and stream readers share the broker's command
 * connection and, when idle, a few blocking lanes (one server) or doorbells (cluster). Counted
 * with CLIENT LIST on every node, by the broker's clientName.
 */
import { describe, expect, it } from 'vitest';
import { ListSub, StreamSub } from '../../src/index.js';
import { doorbellOf } from '../../src/redis/hashtag.js';
import { fixtureBytes } from '../helpers/fixtures.js';
import { realTargets, recordingLogger, uid, type RawClient } from '../helpers/redis.js';
import { eventually, Inbox } from '../helpers/wait.js';

/** Whether a CLIENT LIST line is a connection of the broker named `clientName` (ioredis prefixes a cluster's Pub/Sub ones). */
function named(line: string, clientName: string): boolean {
  return line.includes(` name=${clientName} `) || new RegExp(` name=ioredis-cluster\\(s?subscriber\\):${clientName} `).test(line);
}

/** Connections named `clientName`, per node (`host:port`), masters and replicas alike. */
async function perNode(raw: RawClient, clientName: string): Promise<Map<string, number>> {
  await raw.exists('connections-test-connect');
  const nodes = 'nodes' in raw ? raw.nodes('all') : [raw];
  const counts = new Map<string, number>();
  for (const node of nodes) {
    const list = (await node.client('LIST')) as string;
    counts.set(`${node.options.host}:${node.options.port}`, list.split('\n').filter((line) => named(line, clientName)).length);
  }
  return counts;
}

function total(counts: Map<string, number>): number {
  return [...counts.values()].reduce((a, b) => a + b, 0);
}

describe.each(realTargets)('connections on $name', ({ name, makeBroker, rawClient }) => {
  it('1,000 stream-group, 1,000 list and 100 channel subscribers share a handful of connections, and each consumes', async () => {
    const clientName = uid('fleet').replace(/:/g, '-');
    const broker = makeBroker({ clientName });
    const base = uid('fleet');
    const streams = Array.from({ length: 1000 }, (_, i) => `${base}:s${i}`);
    const lists = Array.from({ length: 1000 }, (_, i) => `${base}:l${i}`);
    const channels = Array.from({ length: 100 }, (_, i) => `${base}:c${i}`);
    const got = new Inbox<string>();
    for (const stream of streams) broker.subscriber(new StreamSub(stream, { group: 'billing', consumer: 'svc' }), (body: string) => got.push(body));
    for (const list of lists) broker.subscriber({ list }, (body: string) => got.push(body));
    for (const channel of channels) broker.subscriber(channel, (body: string) => got.push(body));
    // Closing 2,000 readers must not close a shared connection 2,000 times (Node warns at 11 listeners).
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    const startedAt = performance.now();
    await broker.start();
    const startMs = Math.round(performance.now() - startedAt);

    const raw = rawClient();
    const open = await perNode(raw, clientName);
    const nodes = [...open].filter(([, n]) => n > 0).map(([node, n]) => `${node} ${n}`).join(', ');
    console.log(`${name}: 2,100 subscribers hold ${total(open)} connections (${nodes}); start() took ${startMs} ms`);
    if (name === 'cluster') {
      for (const count of open.values()) expect(count).toBeLessThanOrEqual(4);
    } else {
      expect(total(open)).toBeLessThanOrEqual(8);
    }

    // Every one of them consumes; nothing is left pending.
    await Promise.all([
      ...streams.map((stream) => broker.publish(stream, { stream })),
      ...lists.map((list) => broker.publish(list, { list })),
      ...channels.map((channel) => broker.publish(channel, channel)),
    ]);
    await got.until(() => new Set(got.items).size === 2100, 30_000, () => `all 2,100 consumed (${new Set(got.items).size} so far)`);
    expect(got.items).toHaveLength(2100);
    await eventually(async () => {
      const counts = await Promise.all(streams.map((stream) => raw.xpending(stream, 'billing') as Promise<[number]>));
      return counts.every(([count]) => Number(count) === 0);
    }, 10_000, 'every entry acknowledged');

    const stoppedAt = performance.now();
    await broker.stop();
    console.log(`${name}: stop() took ${Math.round(performance.now() - stoppedAt)} ms`);
    await eventually(async () => total(await perNode(raw, clientName)) === 0, 5000, 'every connection closed');
    process.off('warning', onWarning);
    expect(warnings).toEqual([]);
  }, 60_000);

  it('idle shared readers consume what a FastStream producer writes (no doorbell rings for it)', async () => {
    // On a cluster the poll finds it; keep it short here so the test waits little.
    const broker = makeBroker({ foreignPollInterval: 200 });
    const base = uid('foreign');
    const got = new Inbox<string>();
    for (let i = 0; i < 20; i += 1) {
      broker.subscriber(new StreamSub(`${base}:s${i}`, { group: 'g', consumer: 'c' }), (_body, msg) => got.push(`${msg.source.name}:${msg.messageId}`));
      broker.subscriber(new StreamSub(`${base}:r${i}`), (_body, msg) => got.push(`${msg.source.name}:${msg.messageId}`));
      broker.subscriber(new ListSub(`${base}:l${i}`), (body: string) => got.push(`list:${body}`));
    }
    await broker.start();
    const raw = rawClient();
    const ids = await Promise.all([
      raw.xadd(`${base}:s7`, '*', '__data__', fixtureBytes('stream-dict.hex')),
      raw.xadd(`${base}:r3`, '*', '__data__', fixtureBytes('stream-dict.hex')),
    ]);
    await raw.rpush(`${base}:l11`, fixtureBytes('list-str.hex'));
    const items = await got.take(3);
    expect(items.sort()).toEqual([`${base}:r3:${ids[1]}`, `${base}:s7:${ids[0]}`, 'list:hello'].sort());
  });

  it('a reader busy for a long row of reads, then idle, is woken by the next write', async () => {
    // No poll within the test: on a cluster only a doorbell can wake an idle reader.
    const broker = makeBroker({ foreignPollInterval: 60_000 });
    const base = uid('busy');
    const keys = { plain: `${base}:r`, group: `${base}:g`, list: `${base}:l` };
    const raw = rawClient();
    // How many subscribe to a key's doorbell (cluster): a busy reader lets its doorbell go.
    const ringing = async (key: string): Promise<number> => {
      let count = 0;
      for (const node of 'nodes' in raw ? raw.nodes('master') : []) count += Number(((await node.call('PUBSUB', 'SHARDNUMSUB', doorbellOf(key)!)) as [string, number])[1]);
      return count;
    };
    const got = new Inbox<string>();
    const handler = (key: string) => async (body: string) => {
      // Mid-row (read one at a time, 40 waiting): the reader is busy and needs no doorbell.
      if (body === '30' && name === 'cluster') await eventually(async () => (await ringing(key)) === 0, 10_000, `the doorbell of "${key}" let go`);
      got.push(`${key} ${body}`);
    };
    broker.subscriber(new StreamSub(keys.plain, { lastId: '0', maxRecords: 1 }), handler(keys.plain));
    broker.subscriber(new StreamSub(keys.group, { group: 'g', consumer: 'c', lastId: '0', maxRecords: 1 }), handler(keys.group));
    broker.subscriber(new ListSub(keys.list, { maxRecords: 1 }), handler(keys.list));
    for (let i = 0; i < 40; i += 1) {
      await Promise.all([broker.publish(String(i), { stream: keys.plain }), broker.publish(String(i), { stream: keys.group }), broker.publish(String(i), { list: keys.list })]);
    }
    await broker.start();
    await got.until((items) => items.length === 120, 20_000, () => `the 120 written before start consumed (${got.items.length} so far)`);
    // Idle again, each has its doorbell back before it waits.
    if (name === 'cluster') await eventually(async () => (await Promise.all(Object.values(keys).map(ringing))).every((n) => n === 1), 10_000, 'every doorbell taken back');
    await Promise.all([broker.publish('last', { stream: keys.plain }), broker.publish('last', { stream: keys.group }), broker.publish('last', { list: keys.list })]);
    await got.until((items) => items.length === 123, 20_000, () => `the writes after the idle readers woke them (${got.items.length - 120} of 3)`);
    expect(got.items.slice(120).sort()).toEqual(Object.values(keys).map((key) => `${key} last`).sort());
  });

  it('a subscriber with every worker busy and a backlog does not hold up the others sharing its connections', async () => {
    const broker = makeBroker();
    const base = uid('fair');
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const hot = new Inbox<string>();
    const others = new Inbox<string>();
    broker.subscriber(new StreamSub(`${base}:hot-s`, { group: 'g', consumer: 'c' }), { maxWorkers: 5 }, async (body: string) => {
      await gate;
      hot.push(body);
    });
    broker.subscriber(new ListSub(`${base}:hot-l`), { maxWorkers: 5 }, async (body: string) => {
      await gate;
      hot.push(body);
    });
    for (let i = 0; i < 20; i += 1) {
      broker.subscriber(new StreamSub(`${base}:s${i}`, { group: 'g', consumer: 'c' }), (body: string) => others.push(body));
      broker.subscriber(new ListSub(`${base}:l${i}`), (body: string) => others.push(body));
    }
    await broker.start();
    await Promise.all(Array.from({ length: 200 }, (_, i) => [broker.publish(`s${i}`, { stream: `${base}:hot-s` }), broker.publish(`l${i}`, { list: `${base}:hot-l` })]).flat());
    await Promise.all(Array.from({ length: 20 }, (_, i) => [broker.publish(`s${i}`, { stream: `${base}:s${i}` }), broker.publish(`l${i}`, { list: `${base}:l${i}` })]).flat());
    // Every other subscriber consumes while the hot ones hold all their workers.
    expect(await others.take(40)).toHaveLength(40);
    expect(hot.items).toHaveLength(0);
    open();
    await hot.until((items) => items.length === 400, 20_000, () => `the hot backlogs consumed (${hot.items.length} so far)`);
  });

  it('stops one of two idle readers of the same key at once, and the other reads on', async () => {
    const logger = recordingLogger();
    const broker = makeBroker({ logger });
    const list = uid('twins');
    const stream = uid('twins-stream');
    const got = new Inbox<string>();
    const first = broker.subscriber(new ListSub(list), (body: string) => got.push(`first ${body}`));
    broker.subscriber(new ListSub(list), (body: string) => got.push(`second ${body}`));
    const firstStream = broker.subscriber(new StreamSub(stream), (body: string) => got.push(`first ${body}`));
    broker.subscriber(new StreamSub(stream), (body: string) => got.push(`second ${body}`));
    await broker.start();
    // The other reader of each key keeps the lane's command on that key: stopping must not wait for it.
    await Promise.all([first.stop(), firstStream.stop()]);
    expect(logger.lines.filter((line) => line.message.includes('still running'))).toEqual([]);
    await broker.publish('l', { list });
    await broker.publish('s', { stream });
    expect((await got.take(2)).sort()).toEqual(['second l', 'second s']);
  });

  it('gives a subscriber with dedicatedConnection a blocking connection of its own', async () => {
    const clientName = uid('dedicated').replace(/:/g, '-');
    const broker = makeBroker({ clientName });
    const base = uid('dedicated');
    const got = new Inbox<string>();
    broker.subscriber(new StreamSub(`${base}:a`, { group: 'g', consumer: 'c' }), (body: string) => got.push(body));
    broker.subscriber(new StreamSub(`${base}:b`, { group: 'g', consumer: 'c', dedicatedConnection: true }), (body: string) => got.push(body));
    broker.subscriber(new ListSub(`${base}:l`), (body: string) => got.push(body));
    broker.subscriber(new ListSub(`${base}:m`, { dedicatedConnection: true }), (body: string) => got.push(body));
    await broker.start();
    const raw = rawClient();
    await raw.exists('connections-test-connect');
    /** Connections blocked in `command`. */
    const readers = async (command: string): Promise<number> => {
      const lists = await Promise.all(('nodes' in raw ? raw.nodes('all') : [raw]).map((node) => node.client('LIST') as Promise<string>));
      const blocked = lists.join('\n').split('\n').filter((line) => named(line, clientName) && line.includes(' flags=b '));
      return blocked.filter((line) => line.includes(` cmd=${command} `)).length;
    };
    // The dedicated list reader is the only one to BLPOP. Streams: the dedicated reader's XREADGROUP,
    // and on one server the shared lane's; a cluster's shared readers hold no connection.
    const lanes = name === 'cluster' ? 0 : 1;
    await eventually(async () => (await readers('blpop')) === 1 && (await readers('xreadgroup')) === 1 + lanes, 5000, 'the dedicated readers blocking');
    await broker.publish('a', { stream: `${base}:a` });
    await broker.publish('b', { stream: `${base}:b` });
    await broker.publish('l', { list: `${base}:l` });
    await broker.publish('m', { list: `${base}:m` });
    expect((await got.take(4)).sort()).toEqual(['a', 'b', 'l', 'm']);
  });
});
