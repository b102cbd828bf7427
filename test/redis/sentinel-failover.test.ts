/**
 * Failover under a Sentinel-managed set, on a set of its own (the chaos one): a coordinated
 * `SENTINEL FAILOVER`, a master killed with SIGKILL, a sentinel down. A stream group consumes and
 * a publisher publishes throughout; the test prints the interruption and the duplicates.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { PubSub, RedisSentinelBroker, StreamSub } from '../../src/index.js';
import { recordingLogger, sentinelClient, sentinelOptions, uid } from '../helpers/redis.js';
import { SENTINEL_SETS } from '../helpers/targets.js';
import { freePort, killRedis, waitForPing } from '../helpers/throwaway.js';
import { eventually, Inbox } from '../helpers/wait.js';

const set = SENTINEL_SETS['sentinel-chaos'];
const DIR = process.env['REDSTREAM_REDIS_DIR'] ?? '/tmp/redstream-redis';
const SCRIPTS = new URL('../../scripts/', import.meta.url).pathname;

/** A connection to one sentinel of the set, closed after the test. */
const opened: Redis[] = [];
/** What a test set up outside the set, undone after it, last first, each whatever the others do. */
const undo: Array<() => void> = [];
afterEach(() => {
  for (const client of opened.splice(0)) client.disconnect();
  for (const step of undo.splice(0).reverse()) {
    try {
      step();
    } catch (error) {
      console.error(`cleanup after the test failed: ${String(error)}`);
    }
  }
});
function sentinel(index = 0): Redis {
  const [host, port] = set.sentinels[index]!;
  const client = new Redis({ host, port, protocol: 2, retryStrategy: () => 200, maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  opened.push(client);
  return client;
}

async function masterPort(): Promise<number> {
  const [, port] = (await sentinel().call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', set.masterName)) as [string, string];
  return Number(port);
}

/** The next `+switch-master` of this set that a sentinel announces, and when it was seen. */
async function nextSwitch(): Promise<{ switched: Promise<{ to: number; at: number }> }> {
  const listener = sentinel(1);
  const switched = new Inbox<{ to: number; at: number }>();
  listener.on('message', (_channel: string, text: string) => {
    const [name, , , , port] = text.split(' ');
    if (name === set.masterName) switched.push({ to: Number(port), at: Date.now() });
  });
  await listener.subscribe('+switch-master');
  return { switched: switched.next(20_000) };
}

/** Runs `use` on a connection of its own to the node on `port`, closed after. */
async function onNode<T>(port: number, use: (node: Redis) => Promise<T>): Promise<T> {
  const node = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
  try {
    await node.connect();
    return await use(node);
  } finally {
    node.disconnect();
  }
}

/** Our connections on a node, by client name. */
function ours(port: number, clientName: string): Promise<number> {
  return onNode(port, async (node) => ((await node.client('LIST')) as string).split('\n').filter((line) => line.includes(` name=${clientName} `)).length);
}

/** `SENTINEL FAILOVER`, returned from once the broker logging to `logger` moved: the new master's port. */
async function failOverSeenBy(logger: ReturnType<typeof recordingLogger>): Promise<number> {
  const { switched } = await nextSwitch();
  await sentinel().call('SENTINEL', 'FAILOVER', set.masterName);
  const { to } = await switched;
  await logger.line((line) => line.message.startsWith('Sentinel switched master'), 'the broker seeing the switch');
  return to;
}

/**
 * A fourth sentinel of the set that never hears of a failover: its ACL user on the nodes may not
 * use Pub/Sub, where sentinels tell one another, nor reconfigure a node. It goes on naming `master`.
 * Everything it needs is undone after the test.
 */
async function startLaggingSentinel(master: number): Promise<{ port: number; names: () => Promise<number>; connections: () => Promise<number> }> {
  // The set's two data nodes (scripts/redis-sentinel.sh).
  const nodes = [6410, 6411];
  const user = 'lagging-sentinel';
  const password = 'lagging-sentinel-secret';
  for (const node of nodes) {
    execFileSync('redis-cli', ['-p', String(node), 'ACL', 'SETUSER', user, 'reset', 'on', `>${password}`, '-@all', '+ping', '+info', '+role', '+auth', '+client|setname']);
    undo.push(() => execFileSync('redis-cli', ['-p', String(node), 'ACL', 'DELUSER', user]));
  }
  const port = await freePort();
  const files = ['sentinel-%.conf', 'redis-%.log', 'redis-%.pid'].map((name) => `${DIR}/${name.replace('%', String(port))}`);
  const [conf] = files;
  undo.push(() => {
    for (const file of files) rmSync(file, { force: true });
  });
  writeFileSync(
    conf!,
    [
      'bind 127.0.0.1',
      `port ${port}`,
      'daemonize yes',
      `dir ${DIR}`,
      `logfile ${files[1]}`,
      `pidfile ${files[2]}`,
      `sentinel monitor ${set.masterName} 127.0.0.1 ${master} 2`,
      `sentinel auth-user ${set.masterName} ${user}`,
      `sentinel auth-pass ${set.masterName} ${password}`,
      '',
    ].join('\n'),
  );
  undo.push(() => killRedis(port));
  execFileSync('redis-server', [conf!, '--sentinel']);
  waitForPing(port);
  const client = new Redis({ port, host: '127.0.0.1', protocol: 2, maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  opened.push(client);
  return {
    port,
    names: async () => Number(((await client.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', set.masterName)) as [string, string])[1]),
    connections: async () => Number(/total_connections_received:(\d+)/.exec(await client.info('stats'))![1]),
  };
}

/** Both nodes up, one master with its replica online, every sentinel agreeing: as redis:up leaves it. */
async function healthy(): Promise<boolean> {
  try {
    const port = await masterPort();
    const node = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
    node.on('error', () => undefined);
    const info = await node.info('replication').catch(() => '');
    node.disconnect();
    if (!info.includes('role:master') || !/slave0:.*state=online/.test(info)) return false;
    for (let i = 0; i < set.sentinels.length; i += 1) {
      const fields = (await sentinel(i).call('SENTINEL', 'MASTER', set.masterName)) as string[];
      const flags = fields[fields.indexOf('flags') + 1];
      if (fields[fields.indexOf('port') + 1] !== String(port) || flags !== 'master') return false;
    }
    return true;
  } catch {
    return false;
  }
}

/**
 * A consumer group reading one stream while a publisher writes `total` messages, one at a time,
 * calling `disrupt` once `at` of them were published.
 */
async function consumeThrough(disrupt: () => Promise<void>, options: { total: number; at: number }) {
  const stream = uid('sentinel-failover');
  const clientName = uid('sentinel-client').replace(/:/g, '-');
  const broker = new RedisSentinelBroker('redis://sentinel-master/0', { ...sentinelOptions(set), logger: null, gracefulTimeout: 2000, clientName });
  const seen = new Inbox<{ n: number; at: number }>();
  broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c', pollingInterval: 100 }), (n: number) => seen.push({ n, at: Date.now() }));
  await broker.start();
  const resolved = new Map<number, string>();
  let failed = 0;
  for (let n = 0; n < options.total; n += 1) {
    if (n === options.at) await disrupt();
    try {
      resolved.set(n, await broker.publish(n, { stream }));
    } catch {
      failed += 1;
    }
    // Pacing, so the disruption falls in the middle of a steady flow.
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return { broker, stream, clientName, seen, resolved, failed };
}

/** Longest pause between two consecutive first processings, in ms. */
function interruption(seen: ReadonlyArray<{ at: number }>): number {
  let longest = 0;
  for (let i = 1; i < seen.length; i += 1) longest = Math.max(longest, seen[i]!.at - seen[i - 1]!.at);
  return longest;
}

function duplicates(seen: ReadonlyArray<{ n: number }>): number {
  return seen.length - new Set(seen.map((s) => s.n)).size;
}

describe('RedisSentinelBroker under failover', () => {
  it('follows SENTINEL FAILOVER: every publish that resolved is processed, on the new master', async () => {
    await eventually(healthy, 30_000, 'the Sentinel set healthy');
    const before = await masterPort();
    let switched: Promise<{ to: number; at: number }> | undefined;
    const run = await consumeThrough(async () => {
      ({ switched } = await nextSwitch());
      await sentinel().call('SENTINEL', 'FAILOVER', set.masterName);
    }, { total: 1500, at: 500 });
    const { to, at } = await switched!;
    expect(to).not.toBe(before);
    await run.seen.until((items) => new Set(items.map((s) => s.n)).size >= run.resolved.size, 20_000, 'every resolved publish processed');
    const processed = new Set(run.seen.items.map((s) => s.n));
    expect([...run.resolved.keys()].filter((n) => !processed.has(n))).toEqual([]);
    // Every connection moved: none left on the demoted master.
    await eventually(async () => (await ours(before, run.clientName)) === 0, 10_000, 'no connection left on the demoted master');
    // The command connection, the connection readers share, and the stream's lane.
    await eventually(async () => (await ours(to, run.clientName)) === 3, 10_000, 'our three connections on the new master');
    const firstAfter = run.seen.items.find((s) => s.at >= at);
    console.log(
      `SENTINEL FAILOVER: longest pause in consumption ${interruption(run.seen.items)} ms; first message processed ` +
        `${firstAfter ? firstAfter.at - at : '–'} ms after +switch-master; ${run.failed} publishes failed; ${duplicates(run.seen.items)} processed twice`,
    );
    await run.broker.close();
  }, 60_000);

  it('is not sent back to the old master by a sentinel that has not heard of the failover yet', async () => {
    await eventually(healthy, 30_000, 'the Sentinel set healthy');
    const before = await masterPort();
    const lagging = await startLaggingSentinel(before);
    const logger = recordingLogger();
    // ioredis asks the next sentinel of the list on each reconnection: the first one at start,
    // the lagging one when the switch moves every connection.
    const [first, ...rest] = set.sentinels;
    const broker = new RedisSentinelBroker('redis://sentinel-master/0', {
      sentinels: [first!, ['127.0.0.1', lagging.port], ...rest],
      sentinelMasterName: set.masterName,
      logger,
    });
    const stream = uid('sentinel-lagging');
    try {
      await broker.start();
      const asked = await lagging.connections();
      const to = await failOverSeenBy(logger);
      const ids: string[] = [];
      for (let n = 0; n < 20; n += 1) ids.push(await broker.publish(n, { stream }));
      // The reconnections asked the lagging sentinel, which still names the old master.
      expect(await lagging.connections()).toBeGreaterThan(asked);
      expect(await lagging.names()).toBe(before);
      expect(await onNode(to, async (node) => (await node.xrange(stream, '-', '+')).map(([id]) => id))).toEqual(ids);
    } finally {
      await broker.close();
    }
  }, 60_000);

  it('lists, channels, patterns and sharded channels follow SENTINEL FAILOVER too', async () => {
    await eventually(healthy, 30_000, 'the Sentinel set healthy');
    const before = await masterPort();
    const logger = recordingLogger();
    const clientName = uid('sentinel-kinds').replace(/:/g, '-');
    const broker = new RedisSentinelBroker('redis://sentinel-master/0', { ...sentinelOptions(set), logger, clientName });
    const list = uid('sentinel-list');
    const channel = uid('sentinel-channel');
    const sharded = uid('sentinel-sharded');
    const got = new Inbox<string>();
    broker.subscriber({ list }, (body: string) => got.push(`list ${body}`));
    broker.subscriber({ channel }, (body: string) => got.push(`channel ${body}`));
    broker.subscriber(new PubSub(`${channel}.*`, { pattern: true }), (body: string) => got.push(`pattern ${body}`));
    broker.subscriber(new PubSub(sharded, { sharded: true }), (body: string) => got.push(`sharded ${body}`));
    const round = async (label: string): Promise<void> => {
      await broker.publish(label, { list });
      await broker.publish(label, { channel });
      await broker.publish(label, { channel: `${channel}.x` });
      await broker.publish(label, { channel: new PubSub(sharded, { sharded: true }) });
      await got.until((items) => ['list', 'channel', 'pattern', 'sharded'].every((kind) => items.includes(`${kind} ${label}`)), 10_000, `every kind of ${label}`);
    };
    try {
      await broker.start();
      await round('before');
      const to = await failOverSeenBy(logger);
      // Pub/Sub keeps nothing for a subscriber not there yet: publish once the subscriptions are
      // back, which must be within seconds of the switch, long before the sentinels demote the old
      // master (about 8 s).
      await onNode(to, (node) =>
        eventually(async () => {
          const [, subscribers] = (await node.call('PUBSUB', 'NUMSUB', channel)) as [string, number];
          const [, shardSubscribers] = (await node.call('PUBSUB', 'SHARDNUMSUB', sharded)) as [string, number];
          return subscribers === 1 && shardSubscribers === 1 && Number(await node.call('PUBSUB', 'NUMPAT')) >= 1;
        }, 3_000, 'the subscriptions made again on the new master'),
      );
      await round('after');
      await eventually(async () => (await ours(before, clientName)) === 0, 10_000, 'no connection left on the demoted master');
    } finally {
      await broker.close();
    }
  }, 60_000);

  it('follows a master killed with SIGKILL: what the new master holds is processed; what Redis lost is counted', async () => {
    await eventually(healthy, 30_000, 'the Sentinel set healthy');
    const killed = await masterPort();
    let switched: Promise<{ to: number; at: number }> | undefined;
    const run = await consumeThrough(async () => {
      ({ switched } = await nextSwitch());
      process.kill(Number(readFileSync(`${DIR}/redis-${killed}.pid`, 'utf8')), 'SIGKILL');
    }, { total: 2500, at: 500 });
    try {
      const { to, at } = await switched!;
      expect(to).not.toBe(killed);
      // Replication is asynchronous: an entry the old master acknowledged may never have reached
      // the replica. Those are Redis's loss; everything the new master holds must be processed.
      const raw = sentinelClient(set);
      const held = new Set((await raw.xrange(run.stream, '-', '+')).map(([id]) => id));
      raw.disconnect();
      const lost = [...run.resolved].filter(([, id]) => !held.has(id)).map(([n]) => n);
      const expected = [...run.resolved.keys()].filter((n) => !lost.includes(n));
      await run.seen.until((items) => {
        const processed = new Set(items.map((s) => s.n));
        return expected.every((n) => processed.has(n));
      }, 20_000, 'every publish the new master holds processed');
      const firstAfter = run.seen.items.find((s) => s.at >= at);
      console.log(
        `SIGKILL of the master: longest pause in consumption ${interruption(run.seen.items)} ms; first message processed ` +
          `${firstAfter ? firstAfter.at - at : '–'} ms after +switch-master; ${run.failed} publishes failed, ` +
          `${lost.length} resolved but lost by Redis in the switch; ${duplicates(run.seen.items)} processed twice`,
      );
      expect(lost.length).toBeLessThan(run.resolved.size / 10);
    } finally {
      await run.broker.close();
      // The killed node comes back as a replica of the new master, as redis:up would leave the set.
      execFileSync('bash', [`${SCRIPTS}redis-node.sh`, 'plain', String(killed), String(await masterPort())]);
      await eventually(healthy, 30_000, 'the Sentinel set healthy again');
    }
  }, 90_000);

  it('works with one sentinel down, from the first one listed', async () => {
    await eventually(healthy, 30_000, 'the Sentinel set healthy');
    const [, port] = set.sentinels[0]!;
    process.kill(Number(readFileSync(`${DIR}/redis-${port}.pid`, 'utf8')), 'SIGTERM');
    await eventually(() => sentinel().ping().then(() => false, () => true), 10_000, 'the first sentinel down');
    try {
      const broker = new RedisSentinelBroker('redis://sentinel-master/0', { ...sentinelOptions(set), logger: null });
      const list = uid('one-sentinel-down');
      const got = new Inbox<string>();
      broker.subscriber({ list }, (body: string) => got.push(body));
      await broker.start();
      await broker.publish('still here', { list });
      expect(await got.next()).toBe('still here');
      await broker.close();
    } finally {
      // Sentinel rewrote its configuration with what it learned; it restarts from there.
      execFileSync('redis-server', [`${DIR}/sentinel-${port}.conf`, '--sentinel']);
      await eventually(healthy, 30_000, 'the Sentinel set healthy again');
    }
  }, 60_000);
});
