import { describe, expect, it } from 'vitest';
import { ListSub } from '../../src/index.js';
import { targets, uid } from '../helpers/redis.js';
import { Inbox } from '../helpers/wait.js';

describe.each(targets)('on $name', ({ makeBroker, rawClient }) => {
  describe('list subscribers', () => {
    it('consumes in FIFO order (RPUSH / BLPOP)', async () => {
      const broker = makeBroker();
      const list = uid('fifo');
      const got = new Inbox<number>();
      broker.subscriber({ list }, (n: number) => got.push(n));
      await broker.start();
      for (let i = 0; i < 20; i += 1) await broker.publish(i, { list });
      expect(await got.take(20)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    });

    it('gives each element to exactly one of several consumers', async () => {
      const a = makeBroker();
      const b = makeBroker();
      const list = uid('compete');
      const got = new Inbox<number>();
      a.subscriber({ list }, (n: number) => got.push(n));
      b.subscriber({ list }, (n: number) => got.push(n));
      await Promise.all([a.start(), b.start()]);
      await a.publishBatch(Array.from({ length: 100 }, (_, i) => i), { list });
      const received = await got.take(100);
      expect([...received].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
      expect(await rawClient().llen(list)).toBe(0);
    });

    it('delivers batches bounded by maxRecords, decoding each item', async () => {
      const broker = makeBroker();
      const list = uid('batch');
      const batches = new Inbox<unknown[]>();
      broker.subscriber(new ListSub(list, { batch: true, maxRecords: 3 }), (items) => batches.push(items));
      await broker.start();
      await broker.publishBatch(['a', { b: 2 }, 3, 'd', 'e', 'f', 'g'], { list });
      const seen: unknown[] = [];
      while (seen.length < 7) {
        const batch = await batches.next();
        expect(batch.length).toBeLessThanOrEqual(3);
        seen.push(...batch);
      }
      expect(seen).toEqual(['a', { b: 2 }, 3, 'd', 'e', 'f', 'g']);
    });

    it('wakes a waiting batch consumer as soon as the first element arrives', async () => {
      const broker = makeBroker();
      const list = uid('batch-wait');
      const batches = new Inbox<unknown[]>();
      broker.subscriber({ list: new ListSub(list, { batch: true, pollingInterval: 10_000 }) }, (items) => batches.push(items));
      await broker.start();
      await broker.publish('x', { list });
      // A poll of 10 s would exceed the default 5 s wait: the BLPOP hands the element over at once.
      expect(await batches.next()).toEqual(['x']);
    });

    it('shares correlation id and headers across a publishBatch', async () => {
      const broker = makeBroker();
      const list = uid('shared');
      const got = new Inbox<{ cid: string; h: string | undefined }>();
      broker.subscriber({ list }, (_b, msg) => got.push({ cid: msg.correlationId, h: msg.headers['tenant'] }));
      await broker.start();
      await broker.publishBatch([1, 2], { list, headers: { tenant: 't1' }, correlationId: 'batch-1' });
      expect(await got.take(2)).toEqual([
        { cid: 'batch-1', h: 't1' },
        { cid: 'batch-1', h: 't1' },
      ]);
    });
  });
});
