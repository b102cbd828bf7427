import { describe, expect, it } from 'vitest';
import { BrokerClosedError, ListSub, NotConnectedError, RedisBroker, RedisClusterBroker, RedisSentinelBroker, StopConsume, StreamSub } from '../../src/index.js';
import { spawn } from 'node:child_process';
import { realTargets, targets, uid, type RawClient } from '../helpers/redis.js';
import { SENTINEL_SETS } from '../helpers/targets.js';
import { eventually, Inbox } from '../helpers/wait.js';

/** Whether a CLIENT LIST line is a connection of the broker named `clientName` (ioredis prefixes a cluster's Pub/Sub ones). */
function named(line: string, clientName: string): boolean {
  return line.includes(` name=${clientName} `) || new RegExp(` name=ioredis-cluster\\(s?subscriber\\):${clientName} `).test(line);
}

/** Connections every node sees with this client name. */
async function connections(raw: RawClient, clientName: string): Promise<number> {
  const nodes = 'nodes' in raw ? raw.nodes('all') : [raw];
  const lists = await Promise.all(nodes.map((node) => node.client('LIST') as Promise<string>));
  return lists.join('\n').split('\n').filter((line) => named(line, clientName)).length;
}

describe.each(targets)('broker lifecycle on $name', ({ makeBroker, rawClient }) => {
  it('start, stop and close are idempotent and safe to call concurrently', async () => {
    const broker = makeBroker();
    broker.subscriber({ list: uid('idem') }, () => undefined);
    await Promise.all([broker.start(), broker.start(), broker.connect()]);
    expect(broker.state).toBe('running');
    await Promise.all([broker.stop(), broker.stop()]);
    expect(broker.state).toBe('idle');
    await broker.start();
    expect(broker.state).toBe('running');
    await Promise.all([broker.close(), broker.close()]);
    expect(broker.state).toBe('closed');
    await expect(broker.start()).rejects.toBeInstanceOf(BrokerClosedError);
    await expect(broker.publish(1, 'x')).rejects.toBeInstanceOf(BrokerClosedError);
  });

  it('connects lazily on the first publish', async () => {
    const broker = makeBroker();
    const list = uid('lazy');
    expect(broker.state).toBe('idle');
    expect(await broker.publish('x', { list })).toBe(1);
    expect(broker.state).toBe('connected');
    expect(await broker.ping()).toBe(true);
  });

  it('finishes in-flight handlers on stop and acknowledges them', async () => {
    const broker = makeBroker({ gracefulTimeout: 5000 });
    const stream = uid('graceful');
    const started = new Inbox<true>();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const finished = new Inbox<true>();
    broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c' }), async () => {
      started.push(true);
      await gate;
      finished.push(true);
    });
    await broker.start();
    await broker.publish('slow', { stream });
    await started.next();
    const stopping = broker.stop();
    release();
    await stopping;
    expect(finished.items).toHaveLength(1);
    expect(((await rawClient().xpending(stream, 'g')) as [number])[0]).toBe(0);
  });

  it('leaves unfinished work pending, never lost, when gracefulTimeout runs out', async () => {
    const broker = makeBroker({ gracefulTimeout: 100 });
    const stream = uid('too-slow');
    const started = new Inbox<true>();
    broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c' }), async () => {
      started.push(true);
      await new Promise(() => undefined);
    });
    await broker.start();
    await broker.publish('stuck', { stream });
    await started.next();
    await broker.stop();
    expect(((await rawClient().xpending(stream, 'g')) as [number])[0]).toBe(1);
  });

  it('closes a broker, and stops a subscriber, declared with await using at the end of their scope', async () => {
    const outer = makeBroker();
    let sub: ReturnType<typeof outer.subscriber> | undefined;
    await outer.start();
    {
      await using late = outer.subscriber({ list: uid('scoped') }, () => undefined);
      await late.start();
      sub = late;
      expect(late.running).toBe(true);
    }
    expect(sub.running).toBe(false);
    let scoped: RedisBroker | undefined;
    {
      await using broker = makeBroker();
      await broker.start();
      scoped = broker;
    }
    expect(scoped.state).toBe('closed');
  });

  it('runs a subscriber added to a running broker once it is started, and stops and restarts it alone', async () => {
    const broker = makeBroker();
    const list = uid('dynamic');
    const other = uid('dynamic-other');
    const got = new Inbox<string>();
    const steady = new Inbox<string>();
    broker.subscriber({ list: other }, (body: string) => steady.push(body));
    await broker.start();
    const late = broker.subscriber({ list }, (body: string) => got.push(body));
    await broker.publish('waits', { list });
    await broker.publish('steady-1', { list: other });
    expect(await steady.next()).toBe('steady-1');
    expect(got.items).toEqual([]);
    await late.start();
    expect(await got.next()).toBe('waits');
    await late.stop();
    await broker.publish('while stopped', { list });
    await broker.publish('steady-2', { list: other });
    expect(await steady.next()).toBe('steady-2');
    expect(got.items).toEqual(['waits']);
    await late.start();
    expect(await got.next()).toBe('while stopped');
  });

  it('stops only the subscriber whose handler throws StopConsume, acknowledging that message', async () => {
    const broker = makeBroker();
    const stream = uid('stop-consume');
    const other = uid('stop-consume-other');
    const got = new Inbox<string>();
    const steady = new Inbox<string>();
    const source = new StreamSub(stream, { group: 'g', consumer: 'c' });
    const stopping = broker.subscriber(source, (body: string) => {
      got.push(body);
      if (body === 'stop') throw new StopConsume();
    });
    broker.subscriber({ list: other }, (body: string) => steady.push(body));
    await broker.start();
    await broker.publish('first', { stream });
    await broker.publish('stop', { stream });
    expect(await got.take(2)).toEqual(['first', 'stop']);
    await eventually(() => !stopping.running, 5000, 'the subscriber stopped');
    await broker.publish('after', { stream });
    await broker.publish('still here', { list: other });
    expect(await steady.next()).toBe('still here');
    expect(((await rawClient().xpending(stream, 'g')) as [number])[0]).toBe(0);
    expect(got.items).toEqual(['first', 'stop']);
    await stopping.start();
    await got.until((items) => items.includes('after'), 5000, 'the message published while it was stopped');
    expect(got.items).toEqual(['first', 'stop', 'after']);
  });

});

// What only a real Redis has: sockets to count and nodes to be unreachable.
describe.each(realTargets)('broker connections on $name', ({ name, url, makeBroker, rawClient }) => {
  it('lets the process exit as soon as stop() resolved', async () => {
    const env = { ...process.env, TAG: uid('exit'), TARGET: name, URL: url, SENTINELS: JSON.stringify(SENTINEL_SETS.sentinel.sentinels), MASTER: SENTINEL_SETS.sentinel.masterName };
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/redis/fixtures/stop-then-exit.ts'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    const stopped = new Promise<number>((resolve) => child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('stopped') && resolve(Date.now())));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const stoppedAt = await stopped;
    // A timer or socket left behind (ioredis keeps one for 2 s after QUIT on Pub/Sub) would hold it.
    const exit = await Promise.race([exited, new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 1500).unref())]);
    if (exit === 'still running') child.kill('SIGKILL');
    expect(exit).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(1500);
  });

  it('refuses to publish after stop() instead of reconnecting behind the user', async () => {
    const broker = makeBroker();
    await broker.start();
    await broker.stop();
    await expect(broker.publish('x', { list: uid('after-stop') })).rejects.toThrow(/the broker was stopped\. Call connect\(\) or start\(\)/);
    await broker.connect();
    await expect(broker.publish('x', { list: uid('after-connect') })).resolves.toBe(1);
  });

  it('leaves no connection open after stop, whatever subscribers it ran', async () => {
    const raw = rawClient();
    const clientName = uid('conns').replace(/:/g, '-');
    const broker = makeBroker({ clientName });
    broker.subscriber({ list: uid('c-list') }, () => undefined);
    broker.subscriber(new ListSub(uid('c-batch'), { batch: true }), () => undefined);
    broker.subscriber(new StreamSub(uid('c-stream'), { group: 'g', consumer: 'c' }), () => undefined);
    broker.subscriber(uid('c-channel'), () => undefined);
    await broker.start();
    await broker.request('ping', { channel: uid('c-rpc'), timeout: 50 }).catch(() => undefined);
    const open = await connections(raw, clientName);
    // Single node: command + the readers' shared one + one BLMPOP lane for both lists + one
    // XREADGROUP lane for the group + one Pub/Sub connection shared by channels and the reply
    // inbox. A cluster has a command and a reader connection per master and a Pub/Sub one per
    // shard instead, and no lanes.
    if (name !== 'cluster') expect(open).toBe(5);
    expect(open).toBeGreaterThanOrEqual(3);
    await broker.stop();
    await eventually(async () => (await connections(raw, clientName)) === 0, 3000, 'every connection closed');
  });

  it('fails to connect to an unreachable node with an error naming the address', async () => {
    const options = { logger: null, socketConnectTimeout: 500, retryStrategy: () => null };
    const unreachable = {
      single: () => new RedisBroker('redis://127.0.0.1:1', options),
      cluster: () => new RedisClusterBroker('redis://127.0.0.1:1', options),
      // Every sentinel down: the error names them all.
      sentinel: () => new RedisSentinelBroker('redis://127.0.0.1/0', { ...options, sentinels: [['127.0.0.1', 1], ['127.0.0.1', 2]], sentinelMasterName: 'm' }),
    } as const;
    const broker = unreachable[name as keyof typeof unreachable]();
    const error = await broker.connect().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotConnectedError);
    expect((error as Error).message).toContain('127.0.0.1:1');
    if (name === 'sentinel') expect((error as Error).message).toContain('127.0.0.1:2');
    await expect(broker.publish(1, 'x')).rejects.toBeInstanceOf(NotConnectedError);
    await broker.close();
  });
});
