import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ListSub, PubSub, RedisBroker, RedisClusterBroker, RedisRouter, SetupError, StreamSub, type Middleware } from '../../src/index.js';
import { TestRedisBroker } from '../../src/testing/index.js';

// describe() reads what was registered; it never connects, so these brokers point nowhere.
const NOWHERE = 'redis://user:s3cret@127.0.0.1:1/2';

describe('broker.describe()', () => {
  it('lists every subscriber with its full name, kind, group, schema and ack policy, routers included', () => {
    const broker = new RedisBroker(NOWHERE, { logger: null, ackPolicy: 'rejectOnError', description: 'Billing service' });
    const Order = z.object({ id: z.string() });
    const outer: Middleware = {};
    const inner: Middleware = {};
    broker.subscriber(new StreamSub('orders', { group: 'billing', consumer: 'c1', batch: true }), { schema: Order, title: 'Orders in', description: 'New orders' }, () => undefined);
    broker.subscriber(new PubSub('logs.{level}'), () => undefined);
    const router = new RedisRouter({ prefix: 'jobs.', middlewares: [inner], ackPolicy: 'ack', includeInSchema: false });
    router.subscriber(new ListSub('emails'), () => undefined);
    router.subscriber(new StreamSub('audit', { group: 'g', consumer: 'c' }), { ackPolicy: 'manual' }, () => undefined);
    broker.includeRouter(router, { prefix: 'app.', middlewares: [outer] });

    const { subscribers, description } = broker.describe();
    expect(description).toBe('Billing service');
    expect(subscribers.map((s) => [s.name, s.kind, s.group, s.consumer, s.batch, s.ackPolicy, s.includeInSchema])).toEqual([
      ['orders', 'stream', 'billing', 'c1', true, 'rejectOnError', true],
      ['logs.{level}', 'pattern', undefined, undefined, false, 'rejectOnError', true],
      ['app.jobs.emails', 'list', undefined, undefined, false, 'ack', false],
      ['app.jobs.audit', 'stream', 'g', 'c', false, 'manual', false],
    ]);
    const [orders, , emails] = subscribers;
    expect(orders).toMatchObject({ schema: Order, title: 'Orders in', description: 'New orders', maxWorkers: 1, noReply: false });
    expect(emails!.middlewares).toEqual([outer, inner]);
    expect(emails!.source.name).toBe('app.jobs.emails');
  });

  it('lists publishers with their prefixed destinations, and links them to the subscribers that feed them', () => {
    const broker = new RedisBroker(NOWHERE, { logger: null });
    const router = new RedisRouter({ prefix: 'billing.' });
    const invoices = router.publisher({ stream: 'invoices' }, { title: 'Invoices', includeInSchema: false });
    const shardedOut = broker.publisher({ channel: new PubSub('events', { sharded: true }) });
    router.subscriber({ list: 'orders' }, { publishers: [invoices, shardedOut] }, () => 'x');
    broker.includeRouter(router);

    const { subscribers, publishers } = broker.describe();
    expect(publishers.map((p) => [p.name, p.kind, p.title, p.includeInSchema])).toEqual([
      ['events', 'sharded', undefined, true],
      ['billing.invoices', 'stream', 'Invoices', false],
    ]);
    expect(subscribers[0]!.publishers.map((p) => p.name)).toEqual(['billing.invoices', 'events']);
    expect(subscribers[0]!.publishers[0]!.publisher).toBe(invoices);
  });

  it('says where the broker connects, never with its credentials', () => {
    const single = new RedisBroker(NOWHERE, { logger: null }).describe().server;
    expect(single).toEqual({ topology: 'single', host: '127.0.0.1', port: 1, tls: false, db: 2, nodes: ['127.0.0.1:1'] });
    const cluster = new RedisClusterBroker('rediss://user:s3cret@127.0.0.1:7000', { logger: null, startupNodes: [['127.0.0.1', 7001]] }).describe().server;
    expect(cluster).toEqual({ topology: 'cluster', host: '127.0.0.1', port: 7000, tls: true, db: 0, nodes: ['127.0.0.1:7000', '127.0.0.1:7001'] });
    expect(JSON.stringify([single, cluster])).not.toContain('s3cret');
  });

  it('refuses documentation options of the wrong type, naming them', () => {
    const broker = new RedisBroker(NOWHERE, { logger: null });
    expect(() => broker.subscriber({ list: 'a' }, { includeInSchema: 'no' as unknown as boolean }, () => undefined)).toThrow(/`includeInSchema`/);
    expect(() => broker.publisher({ list: 'a' }, { title: 3 as unknown as string })).toThrow(/`title`/);
    expect(() => new RedisRouter({ includeInSchema: 1 as unknown as boolean })).toThrow(/`includeInSchema`/);
  });
});

describe('includeRouter() on a running broker', () => {
  it('is refused with a SetupError instead of adding subscribers that never start', async () => {
    const broker = new RedisBroker(NOWHERE, { logger: null });
    await using tb = new TestRedisBroker(broker);
    await tb.start();
    const router = new RedisRouter();
    router.subscriber({ list: 'late' }, () => undefined);
    expect(() => broker.includeRouter(router)).toThrow(SetupError);
    expect(broker.describe().subscribers).toHaveLength(0);
  });
});
