/**
 * Connections killed under a running broker (CLIENT KILL) and a frozen server (SIGSTOP, then
 * SIGCONT), on a redis-server of the test's own: every subscriber recovers by itself, nothing a
 * publish resolved is lost, and the log says what happened once per connection, not per retry.
 * Each test prints how long recovery took (the README's failure table quotes these lines).
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { ListSub, PubSub, RedisBroker, StreamSub } from '../../src/index.js';
import { recordingLogger, type LogLine } from '../helpers/redis.js';
import { freePort, killRedis, pidFile, startRedis } from '../helpers/throwaway.js';
import { eventually, Inbox } from '../helpers/wait.js';

const SERVICE = 'svc';
const cleanup: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

interface Client {
  readonly id: string;
  readonly flags: string;
  readonly cmd: string;
}

/** A server of this test's own, a raw client to it, and a service broker (named `svc`) on it. */
async function setup(): Promise<{ port: number; raw: Redis; url: string; logger: ReturnType<typeof recordingLogger>; service: RedisBroker; clients: () => Promise<Client[]> }> {
  const port = await freePort();
  startRedis(port);
  cleanup.push(() => killRedis(port));
  const url = `redis://127.0.0.1:${port}`;
  const raw = new Redis(url);
  cleanup.push(() => raw.disconnect());
  const logger = recordingLogger();
  const service = new RedisBroker(url, { logger, clientName: SERVICE, gracefulTimeout: 2000 });
  cleanup.push(() => service.close());
  const clients = async (): Promise<Client[]> =>
    String(await raw.call('CLIENT', 'LIST'))
      .trim()
      .split('\n')
      .map((line) => Object.fromEntries(line.split(' ').map((field) => field.split('=') as [string, string])))
      .filter((fields) => fields['name'] === SERVICE)
      .map((fields) => ({ id: fields['id']!, flags: fields['flags']!, cmd: fields['cmd']! }));
  return { port, raw, url, logger, service, clients };
}

/** The warnings and recoveries the broker logged about its connections. */
function connectionLines(lines: readonly LogLine[]): string[] {
  return lines.filter((line) => /Redis connection \(/.test(line.message)).map((line) => `${line.level} ${line.context['role'] as string}`);
}

describe('connections killed under a running broker (CLIENT KILL)', () => {
  it('blocked stream and list readers reconnect and read on; the log names each loss and recovery once', async () => {
    const { raw, logger, service, clients } = await setup();
    const streamSeen = new Inbox<number>();
    const listSeen = new Inbox<number>();
    service.subscriber(new StreamSub('orders', { group: 'g', consumer: 'c' }), (n: number) => streamSeen.push(n));
    service.subscriber(new ListSub('jobs'), (n: number) => listSeen.push(n));
    await service.start();
    await eventually(async () => (await clients()).filter((c) => c.flags === 'b').length === 2, 5000, 'both readers blocked');
    const readers = (await clients()).filter((c) => c.flags === 'b');

    const killedAt = Date.now();
    for (const reader of readers) await raw.call('CLIENT', 'KILL', 'ID', reader.id);
    // Published by another client once the readers are gone: only reading again can find these.
    await raw.rpush('jobs', JSON.stringify(1));
    await raw.xadd('orders', '*', '__data__', JSON.stringify(1));
    expect(await streamSeen.next(10_000)).toBe(1);
    expect(await listSeen.next(10_000)).toBe(1);
    console.log(`killed readers: stream and list messages processed ${Date.now() - killedAt} ms after CLIENT KILL`);

    // New connections replaced the killed ones, blocked again.
    await eventually(async () => (await clients()).filter((c) => c.flags === 'b').length === 2, 5000, 'both readers blocked again');
    expect((await clients()).map((c) => c.id)).not.toContain(readers[0]!.id);
    expect(connectionLines(logger.lines).sort()).toEqual(['info blocking', 'info blocking', 'warn blocking', 'warn blocking']);
    // The acknowledgement follows the handler asynchronously.
    await eventually(async () => Number(((await raw.xpending('orders', 'g')) as [number])[0]) === 0, 5000, 'the entry acknowledged');
  });

  it('stream readers killed again and again under a steady flow lose nothing a publish resolved', async () => {
    const { raw, url, service, clients } = await setup();
    const seen = new Inbox<number>();
    service.subscriber(new StreamSub('flow', { group: 'g', consumer: 'c' }), { maxWorkers: 4 }, (n: number) => seen.push(n));
    await service.start();
    const producer = new RedisBroker(url, { logger: null });
    cleanup.push(() => producer.close());
    const total = 1000;
    const publishing = (async () => {
      for (let n = 0; n < total; n += 10) {
        await Promise.all(Array.from({ length: 10 }, (_, i) => producer.publish(n + i, { stream: 'flow' })));
      }
    })();
    for (let kill = 1; kill <= 5; kill += 1) {
      await seen.until((items) => items.length >= (kill * total) / 8, 10_000, `${(kill * total) / 8} processed`);
      for (const reader of (await clients()).filter((c) => c.cmd === 'xreadgroup' || c.flags === 'b')) {
        await raw.call('CLIENT', 'KILL', 'ID', reader.id).catch(() => undefined);
      }
    }
    await publishing;
    await seen.until(() => new Set(seen.items).size === total, 20_000, () => `all ${total} processed (${new Set(seen.items).size} so far)`);
    await eventually(async () => Number(((await raw.xpending('flow', 'g')) as [number])[0]) === 0, 10_000, 'nothing left pending');
    console.log(`killed stream reader 5 times under flow: ${total} processed, ${seen.items.length - total} twice`);
  });

  it('a killed Pub/Sub connection resubscribes by itself', async () => {
    const { raw, logger, service, clients } = await setup();
    const seen = new Inbox<string>();
    service.subscriber(new PubSub('news'), (text: string) => seen.push(text));
    service.subscriber(new PubSub('news.*', { pattern: true }), (text: string) => seen.push(`pattern ${text}`));
    await service.start();
    const subscriber = (await clients()).find((c) => c.flags === 'P')!;
    const killedAt = Date.now();
    await raw.call('CLIENT', 'KILL', 'ID', subscriber.id);
    // Pub/Sub is at-most-once: what is published while nobody listens is gone. Wait for the new subscription.
    await eventually(async () => {
      const [, count] = (await raw.call('PUBSUB', 'NUMSUB', 'news')) as [string, number];
      return Number(count) === 1 && Number(await raw.call('PUBSUB', 'NUMPAT')) === 1;
    }, 5000, 'the channel and the pattern subscribed again');
    const resubscribed = Date.now() - killedAt;
    await raw.publish('news', JSON.stringify('after'));
    await raw.publish('news.eu', JSON.stringify('eu'));
    await seen.until((items) => items.includes('after') && items.includes('pattern eu'), 5000, 'both messages');
    console.log(`killed Pub/Sub connection: subscribed again ${resubscribed} ms after CLIENT KILL`);
    expect(connectionLines(logger.lines)).toEqual(['warn subscriber', 'info subscriber']);
  });

  it('a killed command connection: publishes and acknowledgements go through again, nothing left pending', async () => {
    const { raw, logger, service, clients } = await setup();
    const seen = new Inbox<number>();
    service.subscriber(new StreamSub('acks', { group: 'g', consumer: 'c' }), { maxWorkers: 4 }, (n: number) => seen.push(n));
    await service.start();
    await eventually(async () => (await clients()).some((c) => c.flags === 'b'), 5000, 'the reader blocked');
    // The stream's lane keeps its connection throughout (blocked); so does the connection readers
    // share (it last sent XREADGROUP); the command connection is the other plain one.
    const reader = (await clients()).find((c) => c.flags === 'b')!.id;
    const total = 600;
    const resolved: number[] = [];
    const publishing = (async () => {
      for (let n = 0; n < total; n += 10) {
        await Promise.all(Array.from({ length: 10 }, (_, i) => service.publish(n + i, { stream: 'acks' }).then(() => resolved.push(n + i))));
      }
    })();
    for (let kill = 1; kill <= 3; kill += 1) {
      await seen.until((items) => items.length >= (kill * total) / 5, 10_000, `${(kill * total) / 5} processed`);
      // After a kill, the new command connection shows once it named itself again.
      let command: Client | undefined;
      await eventually(async () => {
        const candidates = (await clients()).filter((c) => c.id !== reader && c.flags !== 'P' && c.cmd !== 'xreadgroup');
        command = candidates.length === 1 ? candidates[0] : undefined;
        return command !== undefined;
      }, 5000, 'the command connection');
      await raw.call('CLIENT', 'KILL', 'ID', command!.id);
    }
    await publishing;
    // Every publish resolved (none was failed by the kills), and each was processed and acknowledged.
    expect(resolved).toHaveLength(total);
    await seen.until(() => new Set(seen.items).size === total, 20_000, () => `all ${total} processed (${new Set(seen.items).size} so far)`);
    await eventually(async () => Number(((await raw.xpending('acks', 'g')) as [number])[0]) === 0, 10_000, 'every entry acknowledged');
    console.log(`killed command connection 3 times under flow: ${total} published and processed, ${seen.items.length - total} twice`);
    expect(connectionLines(logger.lines)).toEqual(['warn command', 'info command', 'warn command', 'info command', 'warn command', 'info command']);
  });
});

describe('a frozen server (SIGSTOP, then SIGCONT)', () => {
  it('subscribers and publishes carry on once it thaws; nothing is lost and nothing is logged per retry', async () => {
    const { port, raw, logger, service } = await setup();
    const streamSeen = new Inbox<number>();
    const listSeen = new Inbox<number>();
    const channelSeen = new Inbox<number>();
    service.subscriber(new StreamSub('frozen', { group: 'g', consumer: 'c' }), (n: number) => streamSeen.push(n));
    service.subscriber(new ListSub('frozen-list'), (n: number) => listSeen.push(n));
    service.subscriber(new PubSub('frozen-channel'), (n: number) => channelSeen.push(n));
    await service.start();
    await service.publish(0, { stream: 'frozen' });
    expect(await streamSeen.next()).toBe(0);

    const pid = Number(readFileSync(pidFile(port), 'utf8'));
    process.kill(pid, 'SIGSTOP');
    let thawed = false;
    cleanup.push(() => void (thawed || process.kill(pid, 'SIGCONT')));
    // Published while the server is frozen: each waits in its connection's queue.
    const during = Promise.all([
      service.publish(1, { stream: 'frozen' }),
      service.publish(1, { list: 'frozen-list' }),
      service.publish(1, { channel: 'frozen-channel' }),
    ]);
    const frozenFor = 3000;
    await new Promise((resolve) => setTimeout(resolve, frozenFor)); // The freeze itself: nothing to wait for.
    process.kill(pid, 'SIGCONT');
    thawed = true;
    const thawedAt = Date.now();
    await during;
    expect(await streamSeen.next(10_000)).toBe(1);
    expect(await listSeen.next(10_000)).toBe(1);
    expect(await channelSeen.next(10_000)).toBe(1);
    console.log(`frozen server (${frozenFor} ms): messages published during the freeze processed ${Date.now() - thawedAt} ms after SIGCONT`);
    await service.publish(2, { stream: 'frozen' });
    expect(await streamSeen.next()).toBe(2);
    // The acknowledgements follow the handlers asynchronously.
    await eventually(async () => Number(((await raw.xpending('frozen', 'g')) as [number])[0]) === 0, 5000, 'every entry acknowledged');
    expect(connectionLines(logger.lines)).toEqual([]);
  });
});

describe('a frozen server under a partitioned stream', () => {
  it('an instance that cannot renew its leases stops reading before they can expire, and reads again after', async () => {
    const { port, logger, service } = await setup();
    const seen = new Inbox<number>();
    const lease = 1000;
    service.subscriber(new StreamSub('parts', { partitions: 2, group: 'g', consumer: 'c', leaseTime: lease }), (n: number) => seen.push(n));
    await service.start();
    const target = new StreamSub('parts', { partitions: 2 });
    await service.publish(0, { stream: target });
    expect(await seen.next()).toBe(0);

    const pid = Number(readFileSync(pidFile(port), 'utf8'));
    process.kill(pid, 'SIGSTOP');
    const frozenAt = Date.now();
    let thawed = false;
    cleanup.push(() => void (thawed || process.kill(pid, 'SIGCONT')));
    await logger.line((line) => line.message.startsWith('Could not renew the partition leases in time'), 'the fence');
    const fencedAfter = Date.now() - frozenAt;
    // The last renewal was sent before the freeze: its lease ends at most `lease` ms after it.
    expect(fencedAfter).toBeLessThan(lease);
    process.kill(pid, 'SIGCONT');
    thawed = true;
    await service.publish(1, { stream: target });
    expect(await seen.next(10_000)).toBe(1);
    console.log(`partitioned stream on a frozen server: reading stopped ${fencedAfter} ms after SIGSTOP (lease ${lease} ms)`);
  });
});
