import { describe, expect, it } from 'vitest';
import { NotConnectedError, RedisBroker, RedisRouter, StreamSub } from '../../src/index.js';
import { MemoryRedis, TestRedisBroker } from '../../src/testing/index.js';

const CLOSED = 'redis://127.0.0.1:1';

describe('TestRedisBroker', () => {
  it('records decoded bodies of handlers (with their errors) and of publishers', async () => {
    const broker = new RedisBroker(CLOSED, { logger: null });
    const out = broker.publisher({ list: 'out' });
    const ok = broker.subscriber({ list: 'in' }, { publishers: [out] }, (n: number) => n * 2);
    const failing = broker.subscriber('boom', () => {
      throw new Error('handler failed');
    });
    await using tb = new TestRedisBroker(broker);
    await tb.start();
    await broker.publish(21, { list: 'in' });
    await broker.publish({ a: 1 }, 'boom');
    expect((await tb.spy(ok).waitCall()).body).toBe(21);
    expect((await tb.spy(out).waitCall()).body).toBe(42);
    const failed = await tb.spy(failing).waitCall();
    expect(failed.body).toEqual({ a: 1 });
    expect((failed.error as Error).message).toBe('handler failed');
    expect(tb.spy(ok).bodies).toEqual([21]);
    const next = tb.spy(ok).nextCall();
    await broker.publish(2, { list: 'in' });
    expect((await next).body).toBe(2);
  });

  it('reports a call that never comes, after the timeout', async () => {
    const broker = new RedisBroker(CLOSED, { logger: null });
    const sub = broker.subscriber('quiet', () => undefined);
    await using tb = new TestRedisBroker(broker);
    await tb.start();
    await expect(tb.spy(sub).waitCall(50)).rejects.toThrow('Expected 1 call(s) within 50 ms, got 0.');
  });

  it('spies on subscribers of included routers', async () => {
    const broker = new RedisBroker(CLOSED, { logger: null });
    const router = new RedisRouter({ prefix: 'r.' });
    const sub = router.subscriber({ list: 'jobs' }, () => undefined);
    broker.includeRouter(router);
    await using tb = new TestRedisBroker(broker);
    await tb.start();
    await broker.publish('x', { list: 'r.jobs' });
    expect((await tb.spy(sub).waitCall()).message?.source.name).toBe('r.jobs');
  });

  it('lets two services share one in-memory Redis', async () => {
    const redis = new MemoryRedis();
    const producer = new RedisBroker(CLOSED, { logger: null });
    const consumer = new RedisBroker(CLOSED, { logger: null });
    const sub = consumer.subscriber(new StreamSub('shared', { group: 'g', consumer: 'c' }), () => undefined);
    await using a = new TestRedisBroker(producer, { redis });
    await using b = new TestRedisBroker(consumer, { redis });
    await Promise.all([a.start(), b.start()]);
    await producer.publish('hello', { stream: 'shared' });
    expect((await b.spy(sub).waitCall()).body).toBe('hello');
  });

  it('gives the broker its real connection back when stopped', async () => {
    const broker = new RedisBroker(CLOSED, { logger: null, socketConnectTimeout: 200, retryStrategy: () => null });
    const tb = new TestRedisBroker(broker);
    await tb.start();
    expect(await broker.publish('x', 'anything')).toBe(0);
    await tb.stop();
    await expect(broker.connect()).rejects.toBeInstanceOf(NotConnectedError);
    await broker.close();
  });

  it('refuses a broker that is already running, and targets it does not know', async () => {
    const broker = new RedisBroker(CLOSED, { logger: null });
    await using tb = new TestRedisBroker(broker);
    await tb.start();
    expect(() => new TestRedisBroker(broker)).toThrow(/needs an idle broker/);
    const stranger = new RedisBroker(CLOSED, { logger: null }).subscriber('x', () => undefined);
    expect(() => tb.spy(stranger)).toThrow(/not registered on the broker under test/);
  });
});
