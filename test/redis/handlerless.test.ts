import { describe, expect, it } from 'vitest';
import { SetupError, StreamSub, type Message } from '../../src/index.js';
import { recordingLogger, targets, uid } from '../helpers/redis.js';
import { eventually, Inbox } from '../helpers/wait.js';

describe.each(targets)('subscribers without a handler on $name', ({ makeBroker, rawClient }) => {
  it('hand out one message at a time with getOne(), and undefined when none comes in time', async () => {
    const broker = makeBroker();
    const list = uid('get-one');
    const jobs = broker.subscriber({ list });
    await broker.start();
    await broker.publish({ job: 1 }, { list });
    const msg = await jobs.getOne({ timeout: 5000 });
    expect(msg?.body).toEqual({ job: 1 });
    expect(await jobs.getOne({ timeout: 50 })).toBeUndefined();
  });

  it('run a for-await loop over a stream group, acknowledging each message after its loop body; leaving the loop stops the reads', async () => {
    const broker = makeBroker();
    const stream = uid('iterate');
    const sub = broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c' }));
    await broker.start();
    for (const n of [1, 2, 3]) await broker.publish(n, { stream });
    const seen: unknown[] = [];
    for await (const msg of sub) {
      seen.push(msg.body);
      if (seen.length === 3) break;
    }
    expect(seen).toEqual([1, 2, 3]);
    expect(sub.running).toBe(false);
    await eventually(async () => ((await rawClient().xpending(stream, 'g')) as [number])[0] === 0, 5000, 'all three acknowledged');
    await broker.publish(4, { stream });
    expect(((await rawClient().xpending(stream, 'g')) as [number])[0]).toBe(0);
  });

  it('leave a group entry nobody took pending when they stop, and hand it out after a restart', async () => {
    const broker = makeBroker();
    const stream = uid('untaken');
    const sub = broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c' }));
    await broker.start();
    await broker.publish('waiting', { stream });
    await eventually(async () => ((await rawClient().xpending(stream, 'g')) as [number])[0] === 1, 5000, 'the entry read into the mailbox');
    await sub.stop();
    expect(((await rawClient().xpending(stream, 'g')) as [number])[0]).toBe(1);
    await sub.start();
    const msg: Message | undefined = await sub.getOne({ timeout: 5000 });
    expect(msg?.body).toBe('waiting');
  });

  it('send each message to the first handler whose filter accepts it', async () => {
    const logger = recordingLogger();
    const broker = makeBroker({ logger });
    const list = uid('filters');
    const got = new Inbox<string>();
    broker
      .subscriber({ list })
      .handle((body: string) => got.push(`refund:${body}`), { filter: (msg) => msg.headers['kind'] === 'refund' })
      .handle((body: string) => got.push(`order:${body}`), { filter: (msg) => msg.headers['kind'] === 'order' });
    await broker.start();
    await broker.publish('a', { list, headers: { kind: 'order' } });
    await broker.publish('b', { list, headers: { kind: 'refund' } });
    await broker.publish('c', { list, headers: { kind: 'other' } });
    await broker.publish('d', { list, headers: { kind: 'other' } });
    await broker.publish('e', { list, headers: { kind: 'order' } });
    expect(await got.take(3)).toEqual(['order:a', 'refund:b', 'order:e']);
    // What no filter accepts is logged once, and handled (not read again).
    expect(logger.lines.filter((l) => l.message.startsWith('No handler of this subscriber accepts'))).toHaveLength(1);
    expect(await rawClient().llen(list)).toBe(0);
  });

  it('refuse getOne() on a subscriber that has a handler', async () => {
    const broker = makeBroker();
    const sub = broker.subscriber({ list: uid('has-handler') }, () => undefined);
    await expect(sub.getOne()).rejects.toBeInstanceOf(SetupError);
  });
});
