import { describe, expect, it } from 'vitest';
import { AckMessage, GroupNotFoundError, NackMessage, RejectMessage, SkipMessage, StreamSub, type AckPolicy, type Message } from '../../src/index.js';
import { recordingLogger, targets, uid } from '../helpers/redis.js';
import { eventually, Inbox } from '../helpers/wait.js';

describe.each(targets)('on $name', ({ makeBroker, rawClient }) => {
  /** Pending entries of a group, as Redis sees them. */
  async function pending(stream: string, group: string): Promise<number> {
    const summary = (await rawClient().xpending(stream, group)) as [number, ...unknown[]];
    return summary[0];
  }

  describe('stream subscribers without a group (XREAD)', () => {
    it('delivers entries with the entry ID as messageId', async () => {
      const broker = makeBroker();
      const stream = uid('xread');
      const got = new Inbox<Message>();
      broker.subscriber({ stream }, (_b, msg) => got.push(msg));
      await broker.start();
      const id = await broker.publish({ a: 1 }, { stream });
      const msg = await got.next();
      expect(msg.body).toEqual({ a: 1 });
      expect(msg.messageId).toBe(id);
      expect(msg.deliveryCount).toBeUndefined();
    });

    it('misses nothing published between polls after start, and skips what came before', async () => {
      const broker = makeBroker();
      const stream = uid('xread-gap');
      await broker.publish('before', { stream });
      const got = new Inbox<string>();
      broker.subscriber(new StreamSub(stream, { pollingInterval: 50 }), (body: string) => got.push(body));
      await broker.start();
      for (let i = 0; i < 30; i += 1) await broker.publish(`m${i}`, { stream });
      expect(await got.take(30)).toEqual(Array.from({ length: 30 }, (_, i) => `m${i}`));
      expect(got.items).not.toContain('before');
    });

    it('reads from lastId "0" the whole stream', async () => {
      const broker = makeBroker();
      const stream = uid('xread-0');
      await broker.publish('old', { stream });
      const got = new Inbox<string>();
      broker.subscriber(new StreamSub(stream, { lastId: '0' }), (body: string) => got.push(body));
      await broker.start();
      expect(await got.next()).toBe('old');
    });
  });

  describe('stream subscribers with a consumer group', () => {
    it('creates the group and stream (MKSTREAM) at start and acknowledges after success', async () => {
      const broker = makeBroker();
      const stream = uid('group');
      const got = new Inbox<number>();
      broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c1' }), (n: number) => got.push(n));
      await broker.start();
      const groups = (await rawClient().xinfo('GROUPS', stream)) as unknown[][];
      expect(groups).toHaveLength(1);
      for (let i = 0; i < 5; i += 1) await broker.publish(i, { stream });
      expect(await got.take(5)).toEqual([0, 1, 2, 3, 4]);
      await eventually(async () => (await pending(stream, 'g')) === 0, 5000, 'all entries acknowledged');
    });

    it('delivers each entry to one consumer of a group, and to every group', async () => {
      const a = makeBroker();
      const b = makeBroker();
      const stream = uid('groups');
      const g1 = new Inbox<number>();
      const g2 = new Inbox<number>();
      a.subscriber(new StreamSub(stream, { group: 'one', consumer: 'a' }), (n: number) => g1.push(n));
      b.subscriber(new StreamSub(stream, { group: 'one', consumer: 'b' }), (n: number) => g1.push(n));
      a.subscriber(new StreamSub(stream, { group: 'two', consumer: 'a' }), (n: number) => g2.push(n));
      await Promise.all([a.start(), b.start()]);
      for (let i = 0; i < 40; i += 1) await a.publish(i, { stream });
      const all = Array.from({ length: 40 }, (_, i) => i);
      expect([...(await g1.take(40))].sort((x, y) => x - y)).toEqual(all);
      expect(await g2.take(40)).toEqual(all);
      await eventually(async () => (await pending(stream, 'one')) === 0 && (await pending(stream, 'two')) === 0);
      expect(g1.items).toHaveLength(40);
    });

    it('leaves a failed entry pending by default (nackOnError) and logs the error', async () => {
      const logger = recordingLogger();
      const broker = makeBroker({ logger });
      const stream = uid('nack-default');
      const got = new Inbox<Message>();
      broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c' }), (body, msg) => {
        got.push(msg);
        if (body === 'bad') throw new Error('boom');
      });
      await broker.start();
      await broker.publish('bad', { stream });
      await broker.publish('good', { stream });
      const [bad, good] = await got.take(2);
      await eventually(async () => (await pending(stream, 'g')) === 1, 5000, 'only the failed entry pending');
      const entries = (await rawClient().xpending(stream, 'g', '-', '+', 10)) as Array<[string]>;
      expect(entries.map(([id]) => id)).toEqual([bad!.messageId]);
      expect(good!.status).toBe('acked');
      expect(bad!.status).toBe('nacked');
      expect(logger.lines.find((l) => l.level === 'error')?.message).toBe('Error: boom');
    });

    it('drains its own pending entries first after a restart, then reads new ones', async () => {
      const stream = uid('restart');
      const options = { group: 'g', consumer: 'stable-name' };
      const first = makeBroker();
      const failing = new Inbox<string>();
      first.subscriber(new StreamSub(stream, options), (body: string) => {
        failing.push(body);
        throw new Error('crash before ack');
      });
      await first.start();
      await first.publish('p1', { stream });
      await first.publish('p2', { stream });
      await failing.take(2);
      await first.stop();
      expect(await pending(stream, 'g')).toBe(2);

      const second = makeBroker();
      const order = new Inbox<string>();
      second.subscriber(new StreamSub(stream, options), (body: string, msg) => {
        order.push(`${body}:${msg.deliveryCount}`);
      });
      await second.publish('n1', { stream });
      await second.start();
      expect(await order.take(3)).toEqual(['p1:2', 'p2:2', 'n1:1']);
      await eventually(async () => (await pending(stream, 'g')) === 0, 5000, 'PEL drained');
    });

    it('recreates a group deleted under it (NOGROUP) when declare is on', async () => {
      const logger = recordingLogger();
      const broker = makeBroker({ logger });
      const stream = uid('nogroup');
      const got = new Inbox<string>();
      broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c', pollingInterval: 20 }), (body: string) => got.push(body));
      await broker.start();
      await rawClient().xgroup('DESTROY', stream, 'g');
      await logger.line((l) => l.message.includes('recreating'), 'the group to be recreated');
      await broker.publish('after', { stream });
      expect(await got.next()).toBe('after');
    });

    it('logs an automatic XACK that Redis refuses, and goes on consuming', async () => {
      const logger = recordingLogger();
      const broker = makeBroker({ logger });
      const stream = uid('ack-refused');
      const raw = rawClient();
      const got = new Inbox<string>();
      broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c', pollingInterval: 20 }), async (body: string) => {
        // The stream becomes a string while the handler runs, so Redis refuses its XACK (WRONGTYPE).
        if (body === 'first') {
          await raw.del(stream);
          await raw.set(stream, 'not a stream');
        }
        got.push(body);
      });
      await broker.start();
      await broker.publish('first', { stream });
      expect(await got.next()).toBe('first');
      const refused = (): { context: Record<string, unknown> } | undefined => logger.lines.find((l) => l.message.startsWith('Could not settle 1 message(s)'));
      await logger.line((l) => l === refused(), 'the refused XACK logged');
      expect(String(refused()!.context['err'])).toMatch(/WRONGTYPE/);
      expect(refused()!.context['subscriber']).toBe(stream);
      // Once the key is a stream again the subscriber recreates its group and reads on.
      await raw.del(stream);
      await eventually(async () => ((await raw.exists(stream)) === 1 ? ((await raw.xinfo('GROUPS', stream)) as unknown[]).length === 1 : false), 5000, 'the group recreated');
      await broker.publish('after', { stream });
      expect(await got.next()).toBe('after');
    });

    it('stops the subscriber with GroupNotFoundError when its group is deleted and declare is off', async () => {
      const logger = recordingLogger();
      const broker = makeBroker({ logger });
      const stream = uid('nogroup-off');
      const raw = rawClient();
      await raw.xgroup('CREATE', stream, 'g', '$', 'MKSTREAM');
      broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c', declare: false, pollingInterval: 20 }), () => undefined);
      await broker.start();
      await raw.xgroup('DESTROY', stream, 'g');
      const line = await logger.line((l) => l.context['err'] instanceof GroupNotFoundError, 'GroupNotFoundError');
      expect(line.message).toMatch(/Consumer group "g" of stream ".*" no longer exists/);
      // The loop ended instead of spinning: the group is not recreated.
      expect(((await raw.xinfo('GROUPS', stream)) as unknown[]).length).toBe(0);
    });

    it('fails start() with a clear error when the stream is missing and declare is off', async () => {
      const broker = makeBroker();
      broker.subscriber(new StreamSub(uid('nodeclare'), { group: 'g', consumer: 'c', declare: false }), () => undefined);
      await expect(broker.start()).rejects.toThrow(/does not exist and `declare` is false/);
    });

    it('acknowledges every entry of a batch together', async () => {
      const broker = makeBroker();
      const stream = uid('batch');
      for (let i = 0; i < 6; i += 1) await broker.publish(i, { stream });
      const batches = new Inbox<unknown[]>();
      broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c', batch: true, maxRecords: 4, lastId: '0' }), (items, msg) => {
        expect(msg.messageIds).toHaveLength(items.length);
        batches.push(items);
      });
      await broker.start();
      const [first, second] = await batches.take(2);
      expect([...first!, ...second!]).toEqual([0, 1, 2, 3, 4, 5]);
      expect(first).toHaveLength(4);
      await eventually(async () => (await pending(stream, 'g')) === 0);
    });

    it("gives a batch every entry's headers, and the first entry's as the message's", async () => {
      const broker = makeBroker();
      const stream = uid('batch-headers');
      for (let i = 0; i < 3; i += 1) await broker.publish(i, { stream, correlationId: `cid-${i}`, headers: { n: String(i) } });
      const seen = new Inbox<{ each: string[]; correlationId: string; n: string | undefined; same: boolean }>();
      broker.subscriber(new StreamSub(stream, { batch: true, maxRecords: 3, lastId: '0' }), (_items, msg) => {
        seen.push({
          each: msg.batchHeaders.map((headers) => `${headers['correlation_id']}:${headers['n']}`),
          correlationId: msg.correlationId,
          n: msg.headers['n'],
          same: msg.batchHeaders === msg.batchHeaders,
        });
      });
      await broker.start();
      expect(await seen.next()).toEqual({ each: ['cid-0:0', 'cid-1:1', 'cid-2:2'], correlationId: 'cid-0', n: '0', same: true });
    });
  });

  function ok(): string {
    return 'ok';
  }

  function fail(): never {
    throw new Error('handler failed');
  }

  describe('ack policies and explicit settlement on a stream group', () => {
    /** Runs one message through a subscriber and reports its final status and whether it is still pending. */
    async function outcome(ackPolicy: AckPolicy | undefined, handler: (msg: Message) => unknown): Promise<{ status: string | undefined; pending: number }> {
      const broker = makeBroker();
      const stream = uid(`policy-${ackPolicy ?? 'default'}`);
      const done = new Inbox<Message>();
      const options = ackPolicy === undefined ? {} : { ackPolicy };
      broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c' }), options, async (_b, msg) => {
        try {
          return await handler(msg);
        } finally {
          done.push(msg);
        }
      });
      await broker.start();
      await broker.publish('x', { stream });
      const msg = await done.next();
      await broker.stop();
      return { status: msg.status, pending: await pending(stream, 'g') };
    }

    it.each([
      ['ackFirst', 'success', ok, 'acked', 0],
      ['ackFirst', 'error', fail, 'acked', 0],
      ['ack', 'success', ok, 'acked', 0],
      ['ack', 'error', fail, 'acked', 0],
      ['nackOnError', 'success', ok, 'acked', 0],
      ['nackOnError', 'error', fail, 'nacked', 1],
      ['rejectOnError', 'success', ok, 'acked', 0],
      ['rejectOnError', 'error', fail, 'rejected', 0],
      ['manual', 'success', ok, undefined, 1],
      ['manual', 'error', fail, undefined, 1],
    ] as const)('%s on %s', async (policy, _case, handler, status, left) => {
      expect(await outcome(policy, handler)).toEqual({ status, pending: left });
    });

    it.each([
      ['AckMessage', () => { throw new AckMessage(); }, 'acked', 0],
      ['NackMessage', () => { throw new NackMessage(); }, 'nacked', 1],
      ['RejectMessage', () => { throw new RejectMessage(); }, 'rejected', 0],
      ['SkipMessage', () => { throw new SkipMessage(); }, undefined, 1],
    ] as const)('a handler throwing %s', async (_name, handler, status, left) => {
      expect(await outcome(undefined, handler)).toEqual({ status, pending: left });
    });

    it('lets the first explicit call win over later calls and over automatic acking', async () => {
      expect(await outcome('ack', async (msg) => {
        await msg.nack();
        await msg.ack();
      })).toEqual({ status: 'nacked', pending: 1 });
      expect(await outcome('manual', async (msg) => {
        await msg.ack();
        throw new Error('after ack');
      })).toEqual({ status: 'acked', pending: 0 });
    });
  });
});
