import { describe, expect, it } from 'vitest';
import { decodeEnvelope } from '../../src/core/codec/index.js';
import { RejectMessage, StreamSub, type Message } from '../../src/index.js';
import { recordingLogger, targets, uid } from '../helpers/redis.js';
import { eventually, Inbox } from '../helpers/wait.js';

describe.each(targets)('on $name', ({ makeBroker, rawClient }) => {
  async function pendingCount(stream: string, group: string): Promise<number> {
    return ((await rawClient().xpending(stream, group)) as [number])[0];
  }

  /** Entries of a stream with their `__data__` decoded. */
  async function readDecoded(stream: string): Promise<Array<{ headers: Record<string, string>; body: string }>> {
    const entries = await rawClient().xrangeBuffer(stream, '-', '+');
    return entries.map(([, fields]) => {
      const { headers, payload } = decodeEnvelope(fields[1]!);
      return { headers, body: payload.toString() };
    });
  }

  describe('claiming idle entries (minIdleTime)', () => {
    it('claims an entry a stuck consumer holds, and still reads new entries', async () => {
      const stuck = makeBroker({ gracefulTimeout: 50 });
      const helper = makeBroker();
      const stream = uid('claim');
      const held = new Inbox<string>();
      stuck.subscriber(new StreamSub(stream, { group: 'g', consumer: 'stuck' }), async (body: string) => {
        held.push(body);
        await new Promise(() => undefined);
      });
      await stuck.start();
      await stuck.publish('held', { stream });
      await held.next();

      const got = new Inbox<{ body: string; count: number | undefined }>();
      helper.subscriber(new StreamSub(stream, { group: 'g', consumer: 'helper', minIdleTime: 200 }), (body: string, msg) => {
        got.push({ body, count: msg.deliveryCount });
      });
      await helper.start();
      await helper.publish('fresh', { stream });
      const seen = await got.take(2);
      expect(seen).toContainEqual({ body: 'fresh', count: 1 });
      expect(seen).toContainEqual({ body: 'held', count: 2 });
      await eventually(async () => (await pendingCount(stream, 'g')) === 0, 5000, 'both entries acknowledged');
    });

    it('retries a failing entry up to maxDeliveries, then dead-letters it with its body and headers', async () => {
      const logger = recordingLogger();
      const broker = makeBroker({ logger });
      const stream = uid('poison');
      const dlq = `${stream}:dlq`;
      const attempts = new Inbox<number | undefined>();
      broker.subscriber(
        new StreamSub(stream, { group: 'g', consumer: 'c', minIdleTime: 50, maxDeliveries: 3, deadLetter: dlq }),
        (_body, msg) => {
          attempts.push(msg.deliveryCount);
          throw new Error('cannot process');
        },
      );
      await broker.start();
      const id = await broker.publish('poison pill', { stream, headers: { tenant: 't1' }, correlationId: 'cid-poison' });
      expect(await attempts.take(3)).toEqual([1, 2, 3]);
      await eventually(async () => (await rawClient().xlen(dlq)) === 1, 5000, 'the dead letter');
      const [dead] = await readDecoded(dlq);
      expect(dead!.body).toBe('poison pill');
      expect(dead!.headers).toMatchObject({
        correlation_id: 'cid-poison',
        'content-type': 'text/plain',
        tenant: 't1',
        'x-dead-letter-reason': 'max-deliveries',
        'x-dead-letter-stream': stream,
        'x-dead-letter-group': 'g',
        'x-dead-letter-id': id,
        'x-dead-letter-deliveries': '3',
        'x-dead-letter-error': 'Error: cannot process',
      });
      expect(await pendingCount(stream, 'g')).toBe(0);
      expect(attempts.items).toHaveLength(3);
    });

    it('dead-letters without running the handler an entry found past the limit (its consumer crashed)', async () => {
      const stream = uid('crashed');
      const dlq = `${stream}:dlq`;
      const raw = rawClient();
      await raw.xgroup('CREATE', stream, 'g', '$', 'MKSTREAM');
      const broker = makeBroker();
      await broker.publish('crashes the worker', { stream });
      // Three deliveries to a consumer that never acknowledged (it crashed each time).
      await raw.xreadgroup('GROUP', 'g', 'c', 'STREAMS', stream, '>');
      await raw.xreadgroup('GROUP', 'g', 'c', 'STREAMS', stream, '0');
      await raw.xreadgroup('GROUP', 'g', 'c', 'STREAMS', stream, '0');
      const handled = new Inbox<unknown>();
      broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c', maxDeliveries: 3, deadLetter: dlq }), (body) => handled.push(body));
      await broker.publish('next', { stream });
      await broker.start();
      expect(await handled.next()).toBe('next');
      expect((await readDecoded(dlq)).map((e) => [e.body, e.headers['x-dead-letter-deliveries']])).toEqual([['crashes the worker', '4']]);
      expect(handled.items).toEqual(['next']);
    });

    it('sends rejected entries to the dead-letter stream with the reason', async () => {
      const broker = makeBroker();
      const stream = uid('reject');
      const dlq = `${stream}:dead`;
      const done = new Inbox<Message>();
      broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c', deadLetter: dlq }), (_b, msg) => {
        done.push(msg);
        throw new RejectMessage({ cause: new Error('malformed order') });
      });
      await broker.start();
      await broker.publish({ order: 1 }, { stream });
      const msg = await done.next();
      await eventually(async () => (await rawClient().xlen(dlq)) === 1);
      expect(msg.status).toBe('rejected');
      const [dead] = await readDecoded(dlq);
      expect(JSON.parse(dead!.body)).toEqual({ order: 1 });
      expect(dead!.headers['x-dead-letter-reason']).toBe('rejected');
      expect(dead!.headers['x-dead-letter-error']).toBe('Error: malformed order');
      expect(await pendingCount(stream, 'g')).toBe(0);
    });

    it('drops past maxDeliveries without a deadLetter stream, logging an error', async () => {
      const logger = recordingLogger();
      const broker = makeBroker({ logger });
      const stream = uid('drop');
      const attempts = new Inbox<number | undefined>();
      broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c', minIdleTime: 50, maxDeliveries: 2 }), (_b, msg) => {
        attempts.push(msg.deliveryCount);
        throw new Error('nope');
      });
      await broker.start();
      await broker.publish('x', { stream });
      expect(await attempts.take(2)).toEqual([1, 2]);
      await eventually(async () => (await pendingCount(stream, 'g')) === 0, 5000, 'the entry acknowledged away');
      expect(logger.lines.some((l) => l.level === 'error' && l.message.includes('set `deadLetter`'))).toBe(true);
    });
  });

  describe('pending entries deleted from the stream', () => {
    it('are acknowledged away when drained, and the rest is delivered', async () => {
      const stream = uid('deleted');
      const raw = rawClient();
      await raw.xgroup('CREATE', stream, 'g', '$', 'MKSTREAM');
      const broker = makeBroker();
      const gone = await broker.publish('deleted', { stream });
      await broker.publish('kept', { stream });
      await raw.xreadgroup('GROUP', 'g', 'c', 'STREAMS', stream, '>');
      await raw.xdel(stream, gone);
      const got = new Inbox<string>();
      broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c' }), (body: string) => got.push(body));
      await broker.start();
      expect(await got.next()).toBe('kept');
      await eventually(async () => (await pendingCount(stream, 'g')) === 0, 5000, 'the deleted entry acknowledged');
    });
  });

  describe('concurrency (maxWorkers)', () => {
    /**
     * A handler of numbered messages that records how many run at once. Those `waits` picks wait
     * for release(); those `instant` picks return synchronously (no promise).
     */
    function gated(waits: (n: number) => boolean, instant: (n: number) => boolean = () => false) {
      let running = 0;
      const seen = { active: 0, peak: 0 };
      const started = new Inbox<number>();
      const done = new Inbox<number>();
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const handler = (n: number): Promise<void> | undefined => {
        if (instant(n)) {
          done.push(n);
          return undefined;
        }
        running += 1;
        seen.active = running;
        seen.peak = Math.max(seen.peak, running);
        started.push(n);
        return (waits(n) ? gate : Promise.resolve()).then(() => {
          running -= 1;
          seen.active = running;
          done.push(n);
        });
      };
      return { handler, started, done, seen, release: () => release() };
    }

    const upTo = (count: number): number[] => Array.from({ length: count }, (_, i) => i);
    const sorted = (items: number[]): number[] => [...items].sort((a, b) => a - b);

    it('runs up to maxWorkers handlers at once and never reads more entries than free workers', async () => {
      const broker = makeBroker();
      const stream = uid('workers');
      for (let i = 0; i < 12; i += 1) await broker.publish(i, { stream });
      const work = gated(() => true);
      broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c', lastId: '0', maxRecords: 10 }), { maxWorkers: 4 }, work.handler);
      await broker.start();
      await work.started.take(4);
      // Back-pressure: only the four entries being processed were read from Redis.
      expect(await pendingCount(stream, 'g')).toBe(4);
      work.release();
      expect(sorted(await work.done.take(12))).toEqual(upTo(12));
      expect(work.seen.peak).toBe(4);
      await eventually(async () => (await pendingCount(stream, 'g')) === 0);
    });

    it('reads ahead while handlers finish at once, and holds what it read ahead when they stop doing so', async () => {
      const broker = makeBroker();
      const stream = uid('ahead');
      for (let i = 0; i < 12; i += 1) await broker.publish(i, { stream });
      // Entries 0-3 finish synchronously; from entry 4 on the handler waits for the gate.
      const work = gated(() => true, (n) => n < 4);
      broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c', lastId: '0', maxRecords: 10 }), { maxWorkers: 4 }, work.handler);
      await broker.start();
      expect(await work.started.take(4)).toEqual([4, 5, 6, 7]);
      // Entries 8-11 were read while 4-7 started (the handlers had been synchronous) and wait for free workers.
      await eventually(async () => (await pendingCount(stream, 'g')) === 8);
      expect(work.seen.active).toBe(4);
      work.release();
      expect(sorted(await work.done.take(12))).toEqual(upTo(12));
      expect(work.seen.peak).toBe(4);
      await eventually(async () => (await pendingCount(stream, 'g')) === 0);
    });

    it('runs the list elements it popped ahead before stopping, within maxWorkers', async () => {
      const broker = makeBroker({ gracefulTimeout: 5000 });
      const list = uid('ahead-list');
      await broker.publishBatch(upTo(12), { list });
      const work = gated(() => true, (n) => n < 4);
      broker.subscriber({ list }, { maxWorkers: 4 }, work.handler);
      await broker.start();
      expect(await work.started.take(4)).toEqual([4, 5, 6, 7]);
      // 8-11 are off the list and in memory only: stopping must run them, not drop them.
      await eventually(async () => (await rawClient().llen(list)) === 0);
      const closing = broker.close();
      work.release();
      await closing;
      expect(sorted(work.done.items)).toEqual(upTo(12));
      expect(work.seen.peak).toBe(4);
    });

    it('without a group reads one message ahead of a busy worker, keeps order, and runs it before stopping', async () => {
      const broker = makeBroker({ gracefulTimeout: 5000 });
      const stream = uid('ahead-nogroup');
      for (let i = 0; i < 3; i += 1) await broker.publish(i, { stream });
      const work = gated((n) => n === 0);
      broker.subscriber(new StreamSub(stream, { lastId: '0' }), work.handler);
      await broker.start();
      expect(await work.started.next()).toBe(0);
      // Entry 1 was read while 0 ran; stopping now must not drop it.
      const closing = broker.close();
      work.release();
      await closing;
      expect(work.done.items).toEqual([0, 1]);
      expect(work.seen.peak).toBe(1);
    });

    it('processes lists and channels concurrently too', async () => {
      const broker = makeBroker();
      const list = uid('list-workers');
      const channel = uid('channel-workers');
      const started = new Inbox<string>();
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const handler = async (body: string): Promise<void> => {
        started.push(body);
        await gate;
      };
      broker.subscriber({ list }, { maxWorkers: 3 }, handler);
      broker.subscriber(channel, { maxWorkers: 3 }, handler);
      await broker.start();
      await broker.publishBatch(['l1', 'l2', 'l3', 'l4'], { list });
      for (const c of ['c1', 'c2', 'c3', 'c4']) await broker.publish(c, channel);
      const first = await started.take(6);
      expect(first.filter((b) => b.startsWith('l'))).toHaveLength(3);
      expect(first.filter((b) => b.startsWith('c'))).toHaveLength(3);
      expect(await rawClient().llen(list)).toBe(1);
      release();
      await started.take(8);
    });
  });

  describe('graceful shutdown with several handlers in flight', () => {
    it('acknowledges what finished, leaves the rest pending, and a restart processes them', async () => {
      const stream = uid('shutdown');
      const options = { group: 'g', consumer: 'c', lastId: '0' };
      const first = makeBroker({ gracefulTimeout: 300 });
      for (let i = 0; i < 4; i += 1) await first.publish(i, { stream });
      const started = new Inbox<number>();
      const finished: number[] = [];
      let releaseEven!: () => void;
      const even = new Promise<void>((resolve) => (releaseEven = resolve));
      first.subscriber(new StreamSub(stream, options), { maxWorkers: 4 }, async (n: number) => {
        started.push(n);
        // Even entries finish during stop(); odd ones never do, so they outlive gracefulTimeout.
        await (n % 2 === 0 ? even : new Promise(() => undefined));
        finished.push(n);
      });
      await first.start();
      await started.take(4);
      const stopping = first.stop();
      releaseEven();
      await stopping;
      expect(finished.sort()).toEqual([0, 2]);
      const pendingIds = ((await rawClient().xpending(stream, 'g', '-', '+', 10)) as Array<[string]>).map(([id]) => id);
      expect(pendingIds).toHaveLength(2);

      const second = makeBroker();
      const redone = new Inbox<number>();
      second.subscriber(new StreamSub(stream, options), (n: number) => redone.push(n));
      await second.start();
      expect((await redone.take(2)).sort()).toEqual([1, 3]);
      await eventually(async () => (await pendingCount(stream, 'g')) === 0);
    });
  });
});
