import { describe, expect, it } from 'vitest';
import { PubSub, type Message } from '../../src/index.js';
import { recordingLogger, targets, uid } from '../helpers/redis.js';
import { Inbox } from '../helpers/wait.js';

describe.each(targets)('on $name', ({ name, makeBroker }) => {
  describe('channel subscribers (Pub/Sub)', () => {
    it('is listening when start() resolves, so the first publish is received', async () => {
      const broker = makeBroker();
      const channel = uid('ch');
      const got = new Inbox<unknown>();
      broker.subscriber(channel, (body) => got.push(body));
      await broker.start();
      const receivers = await broker.publish({ n: 1 }, channel);
      expect(await got.next()).toEqual({ n: 1 });
      // A cluster node counts only its own subscribers (ours may sit on another node), so the
      // exact count is a fact of one master (a single node, or the master Sentinel names).
      if (name !== 'cluster') expect(receivers).toBe(1);
    });

    it('accepts a name, a PubSub and { channel } alike', async () => {
      const broker = makeBroker();
      const base = uid('forms');
      const got = new Inbox<string>();
      broker.subscriber(`${base}.a`, (body: string) => got.push(`a:${body}`));
      broker.subscriber(new PubSub(`${base}.b`), (body: string) => got.push(`b:${body}`));
      broker.subscriber({ channel: `${base}.c` }, (body: string) => got.push(`c:${body}`));
      broker.subscriber({ channel: new PubSub(`${base}.d`) }, (body: string) => got.push(`d:${body}`));
      await broker.start();
      for (const k of ['a', 'b', 'c', 'd']) await broker.publish(k, { channel: `${base}.${k}` });
      expect((await got.take(4)).sort()).toEqual(['a:a', 'b:b', 'c:c', 'd:d']);
    });

    it('captures path params with PSUBSCRIBE for {param} templates', async () => {
      const broker = makeBroker();
      const base = uid('logs');
      const got = new Inbox<Message<string>>();
      broker.subscriber(`${base}.{level}.{service}`, (_line: string, msg) => got.push(msg as Message<string>));
      await broker.start();
      await broker.publish('disk full', `${base}.error.db`);
      const msg = await got.next();
      expect(msg.body).toBe('disk full');
      expect(msg.path).toEqual({ level: 'error', service: 'db' });
      expect(msg.source.name).toBe(`${base}.error.db`);
    });

    it('switches to patterns for * and keeps path empty without params', async () => {
      const broker = makeBroker();
      const base = uid('star');
      const got = new Inbox<Message>();
      broker.subscriber(`${base}.*`, (_b, msg) => got.push(msg));
      await broker.start();
      await broker.publish(1, `${base}.x`);
      const msg = await got.next();
      expect(msg.path).toEqual({});
      expect(msg.body).toBe(1);
    });

    it('reads braces that hold no identifier, and every brace of a sharded channel, as literal (hash tags)', async () => {
      const broker = makeBroker();
      const base = uid('braces');
      const got = new Inbox<string>();
      const literal = `${base}.{user:42}.events`;
      const sharded = `{${base}}.orders`;
      broker.subscriber(literal, (body: string, msg) => got.push(`${msg.source.name}=${body}`));
      broker.subscriber(new PubSub(sharded, { sharded: true }), (body: string, msg) => got.push(`${msg.source.name}=${body}`));
      expect(new PubSub(literal).pattern).toBe(false);
      expect(new PubSub(`${base}.{id}`).pattern).toBe(true);
      await broker.start();
      await broker.publish('a', literal);
      await broker.publish('b', { channel: new PubSub(sharded, { sharded: true }) });
      expect((await got.take(2)).sort()).toEqual([`${literal}=a`, `${sharded}=b`]);
    });

    it('delivers sharded Pub/Sub (SSUBSCRIBE/SPUBLISH)', async () => {
      const broker = makeBroker();
      const channel = uid('sharded');
      const got = new Inbox<unknown>();
      broker.subscriber({ channel: new PubSub(channel, { sharded: true }) }, (body) => got.push(body));
      await broker.start();
      await broker.publish('s', { channel: new PubSub(channel, { sharded: true }) });
      expect(await got.next()).toBe('s');
    });

    it('processes one channel message at a time, in order', async () => {
      const broker = makeBroker();
      const channel = uid('order');
      const got = new Inbox<number>();
      let active = 0;
      let maxActive = 0;
      broker.subscriber(channel, async (n: number) => {
        active += 1;
        maxActive = Math.max(maxActive, active);
        await new Promise((resolve) => setImmediate(resolve));
        active -= 1;
        got.push(n);
      });
      await broker.start();
      await Promise.all(Array.from({ length: 50 }, (_, i) => broker.publish(i, channel)));
      expect(await got.take(50)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      expect(maxActive).toBe(1);
    });

    it('holds at most maxQueued messages for a slow handler, drops the newest beyond, and says how many', async () => {
      const logger = recordingLogger();
      const broker = makeBroker({ logger });
      const channel = uid('bounded');
      const gate = new Inbox<true>();
      const handled = new Inbox<number>();
      const seen = new Inbox<number>();
      broker.subscriber(new PubSub(channel, { maxQueued: 5 }), async (n: number) => {
        handled.push(n);
        if (n === 0) await gate.next();
      });
      // A second subscriber on the same connection sees each message in the same turn as the first.
      broker.subscriber(channel, (n: number) => seen.push(n));
      await broker.start();
      await broker.publish(0, channel);
      await handled.next();
      for (let n = 1; n <= 20; n += 1) await broker.publish(n, channel);
      await seen.take(21);
      expect((await logger.line((l) => l.message.includes('dropping new ones'))).context).toMatchObject({ maxQueued: 5 });
      gate.push(true);
      expect((await logger.line((l) => l.message.startsWith('Dropped'))).context).toMatchObject({ dropped: 15 });
      expect(await handled.take(6)).toEqual([0, 1, 2, 3, 4, 5]);
    });
  });
});
