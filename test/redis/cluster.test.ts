/**
 * What only a cluster has: discovery from one URL, keys spread over every master, pipelines across
 * nodes, hash-slot rules. (Everything else runs in the shared suites on both topologies.)
 */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeMessage } from '../../src/core/codec/index.js';
import { ListSub, NotConnectedError, OptionError, PubSub, RedisClusterBroker, SetupError, StreamSub, slotOf, withHashTag } from '../../src/index.js';
import { doorbellOf, doorbellTiming } from '../../src/redis/hashtag.js';
import { ClusterAdmin } from '../helpers/cluster-admin.js';
import { clusterTarget, recordingLogger, SINGLE_URL, uid } from '../helpers/redis.js';
import { eventually, Inbox } from '../helpers/wait.js';

const { makeBroker, rawClient } = clusterTarget;
const admin = new ClusterAdmin([7000, 7001, 7002, 7003, 7004, 7005]);

/** Keys (one per master at least) with the master port that owns each. */
async function keysOnEveryMaster(prefix: string, count: number): Promise<Array<{ key: string; master: number }>> {
  const keys = await Promise.all(Array.from({ length: count }, async (_, i) => {
    const key = `${prefix}:${i}`;
    return { key, master: (await admin.masterOf(key)).port };
  }));
  expect(new Set(keys.map((k) => k.master)).size).toBe(3);
  return keys;
}

describe('RedisClusterBroker as a drop-in', () => {
  it('discovers the whole cluster from a single URL, even a replica', async () => {
    const replica = (await admin.nodes()).find((n) => n.role === 'replica')!;
    const broker = new RedisClusterBroker(`redis://127.0.0.1:${replica.port}`, { logger: null });
    try {
      const keys = await keysOnEveryMaster(uid('discover'), 12);
      for (const { key } of keys) await broker.publish(key, { list: key });
      const raw = rawClient();
      for (const { key } of keys) expect(await raw.llen(key)).toBe(1);
    } finally {
      await broker.close();
    }
  });

  it('says so when pointed at a node that is not a cluster node', async () => {
    const broker = new RedisClusterBroker(SINGLE_URL, { logger: null });
    const error = await broker.connect().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotConnectedError);
    expect((error as Error).message).toMatch(/is not a Redis Cluster node .*use RedisBroker/);
    await broker.close();
  });

  it('takes startupNodes as extra seeds when the URL node is down', async () => {
    const broker = new RedisClusterBroker('redis://127.0.0.1:1', { logger: null, startupNodes: [['127.0.0.1', 7001]] });
    try {
      const list = uid('seeds');
      expect(await broker.publish('x', { list })).toBe(1);
    } finally {
      await broker.close();
    }
  });

  it('refuses options that cannot apply to a cluster, naming them', () => {
    expect(() => new RedisClusterBroker('redis://127.0.0.1:7000/2')).toThrow(OptionError);
    expect(() => new RedisClusterBroker('redis://127.0.0.1:7000', { db: 1 })).toThrow(/Expected `db` to be 0 on a RedisClusterBroker/);
    expect(() => new RedisClusterBroker('redis://127.0.0.1:7000', { startupNodes: [['h', 0]] })).toThrow(/`startupNodes\[0\]`/);
    expect(() => new RedisClusterBroker('redis://127.0.0.1:7000', { startupNodes: 'h:1' as never })).toThrow(/`startupNodes`/);
  });
});

describe('streams spread over every master', () => {
  it('keep per-key order and lose nothing', async () => {
    const broker = makeBroker();
    const keys = await keysOnEveryMaster(uid('spread'), 12);
    const received = new Map<string, number[]>();
    const all = new Inbox<true>();
    for (const { key } of keys) {
      received.set(key, []);
      broker.subscriber(new StreamSub(key, { group: 'g', consumer: 'c', maxRecords: 20 }), (n: number) => {
        received.get(key)!.push(n);
        all.push(true);
      });
    }
    await broker.start();
    // Interleave publishes to every key, many in flight at once.
    await Promise.all(keys.map(async ({ key }) => {
      for (let n = 0; n < 100; n += 1) await broker.publish(n, { stream: key });
    }));
    await all.take(keys.length * 100, 15_000);
    for (const [, values] of received) expect(values).toEqual(Array.from({ length: 100 }, (_, n) => n));
  });
});

describe('pipelines on a cluster', () => {
  it('send one pipeline per master in parallel and return results in call order', async () => {
    const broker = makeBroker();
    const keys = await keysOnEveryMaster(uid('pipe'), 9);
    const results = await broker.pipeline(async (pipe) => {
      for (const [i, { key }] of keys.entries()) {
        if (i % 3 === 0) await broker.publish(i, { stream: key, pipeline: pipe });
        else await broker.publishBatch(Array.from({ length: i }, () => i), { list: key, pipeline: pipe });
      }
    });
    const entryId: unknown = expect.stringMatching(/^\d+-\d+$/);
    expect(results).toEqual(keys.map((_, i): unknown => (i % 3 === 0 ? entryId : i)));
  });

  it('run atomically within one hash slot, and explain hash tags when keys span slots', async () => {
    const broker = makeBroker();
    const base = uid('atomic');
    const tagged = [withHashTag(base, 'a'), withHashTag(base, 'b')];
    expect(slotOf(tagged[0]!)).toBe(slotOf(tagged[1]!));
    expect(await broker.pipeline(async (pipe) => {
      for (const list of tagged) await broker.publish(1, { list, pipeline: pipe });
    }, { atomic: true })).toEqual([1, 1]);

    const error = await broker
      .pipeline(async (pipe) => {
        await broker.publish(1, { list: `${base}:x`, pipeline: pipe });
        await broker.publish(1, { list: `${base}:y`, pipeline: pipe });
      }, { atomic: true })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SetupError);
    expect((error as Error).message).toMatch(/one hash slot.*common hash tag, e\.g\. "\{orders\}"/);
  });
});

describe('dead letters on a cluster', () => {
  it('warn at start, explaining hash tags, when the dead-letter stream is in another slot', async () => {
    const logger = recordingLogger();
    const broker = makeBroker({ logger });
    const stream = uid('dlq-slots');
    broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c', deadLetter: `${stream}:dlq` }), () => undefined);
    await broker.start();
    const warning = logger.lines.find((l) => l.level === 'warn' && l.message.includes('another hash slot'));
    expect(warning?.message).toContain(`"{${stream}}" and "{${stream}}:dlq"`);
  });

  it('move entries atomically when the dead-letter stream shares the hash tag', async () => {
    const broker = makeBroker();
    const stream = withHashTag(uid('dlq'));
    const dlq = withHashTag(stream, 'dlq');
    const done = new Inbox<{ status: string | undefined }>();
    broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c', deadLetter: dlq }), { ackPolicy: 'rejectOnError' }, (_b, msg) => {
      done.push(msg);
      throw new Error('bad');
    });
    await broker.start();
    await broker.publish('x', { stream });
    const msg = await done.next();
    const raw = rawClient();
    await eventually(async () => (await raw.xlen(dlq)) === 1);
    expect(msg.status).toBe('rejected');
    expect(((await raw.xpending(stream, 'g')) as [number])[0]).toBe(0);
  });
});

describe('blocking readers on a cluster', () => {
  it('each have their own connection: a stuck handler on one key never stalls another on the same node', async () => {
    const broker = makeBroker({ gracefulTimeout: 100 });
    const [a, b] = await Promise.all([admin.keyOn(7000, uid('stall-a')), admin.keyOn(7000, uid('stall-b'))]);
    const started = new Inbox<string>();
    broker.subscriber(new ListSub(a), async () => {
      started.push('a');
      await new Promise(() => undefined);
    });
    const gotB = new Inbox<number>();
    broker.subscriber(new ListSub(b), (n: number) => gotB.push(n));
    await broker.start();
    await broker.publish(0, { list: a });
    await started.next();
    for (let n = 0; n < 5; n += 1) await broker.publish(n, { list: b });
    expect(await gotB.take(5)).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('request/reply on a cluster', () => {
  it('asks redstream responders for a sharded reply, and still takes a classic one from FastStream', async () => {
    const server = makeBroker();
    const client = makeBroker();
    const channel = uid('rpc-sharded');
    const seen = new Inbox<string | undefined>();
    server.subscriber(channel, (body: string, msg) => {
      seen.push(msg.headers['x-redstream-reply-sharded']);
      return `re:${body}`;
    });
    await server.start();
    expect((await client.request('a', { channel, timeout: 3000 })).body).toBe('re:a');
    expect(await seen.next()).toBe('1');

    // A FastStream responder: reads the request and answers reply_to with a classic PUBLISH.
    const fsChannel = uid('rpc-faststream');
    const raw = rawClient();
    const sub = rawClient();
    sub.on('messageBuffer', (_c: Buffer, data: Buffer) => {
      const { headers } = decodeEnvelope(data);
      const reply = encodeMessage({ pong: true }, { correlationId: headers['correlation_id']! });
      void raw.publish(headers['reply_to']!, reply);
    });
    await sub.subscribe(fsChannel);
    expect((await client.request('ping', { channel: fsChannel, timeout: 3000 })).body).toEqual({ pong: true });
  });
});

describe('classic Pub/Sub on a cluster', () => {
  it('is subscribed on the master that owns the channel name\'s slot, where it is published, so messages do not cross the cluster bus', async () => {
    const broker = makeBroker();
    const channels = (await keysOnEveryMaster(uid('classic'), 9)).map(({ key, master }) => ({ channel: key, master }));
    const pattern = `${uid('pattern')}:*`;
    const got = new Inbox<string>();
    for (const { channel } of channels) broker.subscriber(channel, (body: string) => got.push(body));
    broker.subscriber(new PubSub(pattern, { pattern: true }), (body: string) => got.push(body));
    await broker.start();
    const masters = (await admin.nodes()).filter((n) => n.role === 'master');
    for (const { channel, master } of channels) {
      const counts = await Promise.all(masters.map(async (node) => {
        const client = new Redis({ host: '127.0.0.1', port: node.port, lazyConnect: true });
        try {
          return { port: node.port, count: Number(((await client.call('PUBSUB', 'NUMSUB', channel)) as [string, number])[1]) };
        } finally {
          client.disconnect();
        }
      }));
      expect(counts.filter((c) => c.count > 0), channel).toEqual([{ port: master, count: 1 }]);
    }
    for (const { channel } of channels) await broker.publish(channel, channel);
    await broker.publish('p', pattern.replace('*', 'x'));
    expect((await got.take(10)).sort()).toEqual([...channels.map((c) => c.channel), 'p'].sort());
  });
});

describe('doorbells on a cluster', () => {
  /** The commands the master of `key`'s slot executes from now on that name `names` (MONITOR), in order. */
  async function watchCommands(key: string, names: readonly string[]): Promise<{ seen: Inbox<string>; stop: () => void }> {
    const client = new Redis({ host: '127.0.0.1', port: (await admin.masterOf(key)).port, lazyConnect: true });
    const monitor = await client.monitor();
    const seen = new Inbox<string>();
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args.some((arg) => names.includes(arg))) seen.push(`${args[0]!.toUpperCase()} ${args.filter((arg) => names.includes(arg)).join(' ')}`);
    });
    return { seen, stop: () => { monitor.disconnect(); client.disconnect(); } };
  }

  it('a writer whose ring reached nobody does not ring that key again for a while; other keys still ring', async () => {
    doorbellTiming.hushMs = 60_000; // so that the hush lasts the whole test
    const tag = uid('hush');
    const [key, other] = [`{${tag}}:a`, `{${tag}}:b`];
    const bell = doorbellOf(key)!;
    const { seen, stop } = await watchCommands(key, [key, other]);
    const listener = new Redis({ host: '127.0.0.1', port: (await admin.masterOf(bell)).port, lazyConnect: true });
    try {
      const writer = makeBroker();
      await writer.publish('1', { stream: key }); // rings to nobody: hushed
      await listener.ssubscribe(bell);
      await writer.publish('2', { stream: key }); // hushed: no ring
      await writer.publish('3', { stream: other }); // rings (and reaches the listener)
      expect(await seen.take(5)).toEqual([`XADD ${key}`, `SPUBLISH ${key}`, `XADD ${key}`, `XADD ${other}`, `SPUBLISH ${other}`]);
    } finally {
      doorbellTiming.hushMs = 1;
      listener.disconnect();
      stop();
    }
  });

  it('a reader reads again by itself soon after it subscribed to its doorbell, for writes a hushed writer did not ring', async () => {
    doorbellTiming.hushMs = 500;
    const key = uid('hush');
    const { seen, stop } = await watchCommands(key, [key]);
    try {
      // No poll within the test; this write comes from a writer that never rings (as a hushed one).
      const reader = makeBroker({ foreignPollInterval: 60_000 });
      const got = new Inbox<string>();
      reader.subscriber(new StreamSub(key, { lastId: '$' }), (body: string) => got.push(body));
      await reader.start();
      await seen.until((commands) => commands.some((command) => command.startsWith('XREAD ')), 5000, 'the reader\'s first read');
      await rawClient().xadd(key, '*', '__data__', encodeMessage('unrung', { correlationId: 'c' }));
      expect(await got.next(10 * doorbellTiming.hushMs)).toBe('unrung');
    } finally {
      doorbellTiming.hushMs = 1;
      stop();
    }
  });
});
