import { Parser } from '@asyncapi/parser';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { asyncapi } from '../../src/asyncapi/index.js';
import { App, ListSub, PubSub, RedisBroker, RedisClusterBroker, RedisRouter, RedisSentinelBroker, StreamSub } from '../../src/index.js';

const Order = z.object({ id: z.string(), qty: z.number().int() });

/** A broker using every source kind, routers, schemas and publishers; it never connects. */
function service(broker: RedisBroker): RedisBroker {
  broker.subscriber(new StreamSub('orders', { group: 'billing', consumer: 'c1' }), { schema: Order, description: 'New orders to bill' }, async function billOrder(order) {
    return order.id;
  });
  broker.subscriber(new StreamSub('audit'), () => undefined);
  broker.subscriber(new PubSub('logs.{level}'), (line: string) => line);
  broker.subscriber(new PubSub('events.*'), () => undefined);
  broker.subscriber(new PubSub('shard-events', { sharded: true }), () => undefined);
  broker.subscriber(new ListSub('jobs', { batch: true }), { schema: v.object({ job: v.string() }) }, () => undefined);
  const router = new RedisRouter({ prefix: 'billing.' });
  router.subscriber({ list: 'emails' }, { title: 'Outgoing emails' }, () => undefined);
  router.publisher({ stream: 'invoices' }, { schema: Order, description: 'Invoices as they are made' });
  broker.includeRouter(router);
  const hidden = new RedisRouter({ prefix: 'internal.', includeInSchema: false });
  hidden.subscriber({ list: 'secret' }, () => undefined);
  broker.includeRouter(hidden);
  broker.subscriber({ list: 'also-hidden' }, { includeInSchema: false }, () => undefined);
  broker.publisher({ channel: 'notify' });
  return broker;
}

async function diagnostics(doc: unknown): Promise<string[]> {
  const { diagnostics: found } = await new Parser().parse(JSON.stringify(doc));
  // 0 is an error, 1 a warning; information and hints (such as "3.1.0 exists") do not count.
  return found.filter((d) => Number(d.severity) <= 1).map((d) => `${d.code}: ${d.message} at ${d.path.join('.')}`);
}

describe('asyncapi()', () => {
  const brokers = {
    single: () => new RedisBroker('redis://app:s3cret@cache.internal:6380/2', { logger: null }),
    cluster: () => new RedisClusterBroker('rediss://app:s3cret@node1:7000', { logger: null, startupNodes: [['node2', 7001]] }),
    sentinel: () => new RedisSentinelBroker('redis://app:s3cret@ignored/0', { logger: null, sentinels: [['s1', 26379], ['s2', 26379]], sentinelMasterName: 'm', sentinelOptions: { password: 's3cret-too' } }),
  };

  it.each(Object.entries(brokers))('is a valid AsyncAPI 3.0 document on %s, without a credential', async (_name, make) => {
    const doc = asyncapi(service(make()), { title: 'Billing', version: '1.2.0', description: 'Bills orders' });
    expect(await diagnostics(doc)).toEqual([]);
    const text = JSON.stringify(doc);
    expect(text).not.toMatch(/s3cret|app:/);
    expect(doc).toMatchObject({ asyncapi: '3.0.0', info: { title: 'Billing', version: '1.2.0', description: 'Bills orders' } });
  });

  it('describes servers by host, protocol and database', () => {
    expect(asyncapi(service(brokers.single()), { title: 't' })['servers']).toEqual({
      development: { host: 'cache.internal:6380', pathname: '/2', protocol: 'redis', protocolVersion: 'custom', description: 'Redis' },
    });
    expect(asyncapi(brokers.cluster(), { title: 't' })['servers']).toMatchObject({ development: { host: 'node1:7000', protocol: 'rediss', description: 'Redis Cluster; seed nodes node1:7000, node2:7001' } });
    expect(asyncapi(brokers.sentinel(), { title: 't' })['servers']).toMatchObject({ development: { host: 's1:26379', description: 'Redis Sentinel; sentinels s1:26379, s2:26379' } });
  });

  it("names channels, operations and messages as FastStream does, with FastStream's Redis bindings", () => {
    const doc = asyncapi(service(brokers.single()), { title: 't' }) as {
      channels: Record<string, { address: string; title: string; description?: string; bindings: { redis: Record<string, unknown> } }>;
      operations: Record<string, { action: string; channel: { $ref: string } }>;
      components: { messages: Record<string, { title: string; correlationId: unknown; payload: { $ref: string } }>; schemas: Record<string, unknown> };
    };
    const byTitle = Object.fromEntries(Object.values(doc.channels).map((channel) => [channel.title, channel]));
    expect(Object.keys(byTitle).sort()).toEqual(
      ['audit:Handler', 'billing.emails:Handler', 'billing.invoices:Publisher', 'events.*:Handler', 'jobs:Handler', 'logs.{level}:Handler', 'notify:Publisher', 'orders:BillOrder', 'shard-events:Handler']
        .map((title) => (title === 'billing.emails:Handler' ? 'Outgoing emails' : title))
        .sort(),
    );
    expect(byTitle['orders:BillOrder']!.bindings.redis).toEqual({ channel: 'orders', method: 'xreadgroup', groupName: 'billing', consumerName: 'c1', bindingVersion: 'custom' });
    expect(byTitle['orders:BillOrder']!.description).toBe('New orders to bill');
    expect(byTitle['audit:Handler']!.bindings.redis).toMatchObject({ method: 'xread' });
    expect(byTitle['logs.{level}:Handler']!.bindings.redis).toMatchObject({ channel: 'logs.{level}', method: 'psubscribe' });
    expect(byTitle['jobs:Handler']!.bindings.redis).toMatchObject({ method: 'lpop' });
    expect(byTitle['Outgoing emails']!.address).toBe('billing.emails');
    expect(byTitle['billing.invoices:Publisher']!.bindings.redis).toMatchObject({ channel: 'billing.invoices', method: 'xadd' });
    expect(byTitle['notify:Publisher']!.bindings.redis).toMatchObject({ method: 'publish' });
    expect(JSON.stringify(doc)).not.toMatch(/secret|also-hidden/);
    const actions = Object.values(doc.operations).map((operation) => operation.action);
    expect(actions.filter((a) => a === 'receive')).toHaveLength(7);
    expect(actions.filter((a) => a === 'send')).toHaveLength(2);
    const message = Object.values(doc.components.messages).find((m) => m.title.startsWith('orders_BillOrder'))!;
    expect(message.correlationId).toEqual({ location: '$message.header#/correlation_id' });
    const payload = doc.components.schemas[message.payload.$ref.split('/').pop()!];
    expect(payload).toMatchObject({ type: 'object', properties: { id: { type: 'string' }, qty: { type: 'integer' } }, required: ['id', 'qty'] });
  });

  it('takes an App as well as a broker', () => {
    const broker = service(brokers.single());
    expect(asyncapi(new App(broker, { logger: null }), { title: 't' })).toEqual(asyncapi(broker, { title: 't' }));
  });
});
