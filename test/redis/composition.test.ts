import { describe, expect, it } from 'vitest';
import { ListSub, RedisRouter, StreamSub, type Middleware, type MiddlewareFactory } from '../../src/index.js';
import { Inbox, eventually, targets, uid } from '../helpers/redis.js';

describe.each(targets)('on $name', ({ makeBroker, rawClient }) => {
  describe('publisher objects', () => {
    it('publish directly, with their headers merged under the call headers', async () => {
      const broker = makeBroker();
      const list = uid('pub');
      const got = new Inbox<Record<string, string>>();
      broker.subscriber({ list }, (_b, msg) => got.push({ ...msg.headers }));
      const publisher = broker.publisher({ list }, { headers: { source: 'pub', keep: 'yes' } });
      await broker.start();
      await publisher.publish('x', { headers: { source: 'call' } });
      expect(await got.next()).toMatchObject({ source: 'call', keep: 'yes' });
    });

    it('receive a handler return value, with the incoming correlation id', async () => {
      const broker = makeBroker();
      const input = uid('in');
      const output = uid('out');
      const audit = broker.publisher({ stream: new StreamSub(`${output}.audit`, { maxlen: 1000 }) });
      const copy = broker.publisher({ list: output });
      broker.subscriber({ list: input }, { publishers: [audit, copy] }, (body: number) => ({ seen: body }));
      const got = new Inbox<{ body: unknown; cid: string }>();
      broker.subscriber({ list: output }, (body, msg) => got.push({ body, cid: msg.correlationId }));
      await broker.start();
      await broker.publish(7, { list: input, correlationId: 'chain-1' });
      expect(await got.next()).toEqual({ body: { seen: 7 }, cid: 'chain-1' });
      await eventually(async () => (await rawClient().xlen(`${output}.audit`)) === 1);
    });
  });

  describe('routers', () => {
    it('prefix names (include prefix + router prefix + name), for subscribers and publishers', async () => {
      const broker = makeBroker();
      const base = uid('router');
      const inner = new RedisRouter({ prefix: 'inner.' });
      const got = new Inbox<string>();
      inner.subscriber({ list: 'jobs' }, (body: string, msg) => got.push(`${msg.source.name}=${body}`));
      const out = inner.publisher({ list: 'jobs' });
      const outer = new RedisRouter({ prefix: `${base}.` });
      outer.includeRouter(inner);
      broker.includeRouter(outer, { prefix: 'app.' });
      await broker.start();
      await out.publish('via-publisher');
      expect(await got.next()).toBe(`app.${base}.inner.jobs=via-publisher`);
    });

    it('run middlewares outer-first: broker, include, router, subscriber', async () => {
      const order: string[] = [];
      const done = new Inbox<true>();
      const tag = (name: string): Middleware => ({
        async consumeScope(next, msg) {
          order.push(`${name}>`);
          const result = await next(msg);
          order.push(`<${name}`);
          // The outermost scope ends last: the whole chain has run.
          if (name === 'broker') done.push(true);
          return result;
        },
      });
      const broker = makeBroker({ middlewares: [tag('broker')] });
      const router = new RedisRouter({ middlewares: [tag('router')] });
      const channel = uid('mw-order');
      router.subscriber(channel, { middlewares: [tag('subscriber')] }, () => void order.push('handler'));
      broker.includeRouter(router, { middlewares: [tag('include')] });
      await broker.start();
      await broker.publish(1, channel);
      await done.next();
      expect(order).toEqual(['broker>', 'include>', 'router>', 'subscriber>', 'handler', '<subscriber', '<router', '<include', '<broker']);
    });

    it('take the innermost ack policy (subscriber, then router, then broker)', async () => {
      const broker = makeBroker({ ackPolicy: 'ack' });
      const router = new RedisRouter({ ackPolicy: 'rejectOnError' });
      const stream = uid('policy');
      const statuses = new Inbox<string | undefined>();
      const fail = async (_b: unknown, msg: { status: string | undefined }) => {
        queueMicrotask(() => setImmediate(() => statuses.push(msg.status)));
        throw new Error('x');
      };
      router.subscriber(new StreamSub(`${stream}.r`, { group: 'g', consumer: 'c' }), fail);
      router.subscriber(new StreamSub(`${stream}.s`, { group: 'g', consumer: 'c' }), { ackPolicy: 'nackOnError' }, fail);
      broker.subscriber(new StreamSub(`${stream}.b`, { group: 'g', consumer: 'c' }), fail);
      broker.includeRouter(router);
      await broker.start();
      await broker.publish(1, { stream: `${stream}.r` });
      expect(await statuses.next()).toBe('rejected');
      await broker.publish(1, { stream: `${stream}.s` });
      expect(await statuses.next()).toBe('nacked');
      await broker.publish(1, { stream: `${stream}.b` });
      expect(await statuses.next()).toBe('acked');
    });
  });

  describe('middlewares', () => {
    it('call every hook; factories get a fresh instance per message and can change published headers', async () => {
      const calls: string[] = [];
      const factory: MiddlewareFactory = ({ message }) => ({
        onReceive: () => void calls.push(`receive:${message ? 'msg' : 'none'}`),
        async publishScope(next, command) {
          command.headers['traced'] = 'yes';
          calls.push(`publish:${command.type}`);
          return next(command);
        },
        afterProcessed: (error) => void calls.push(`after:${error === undefined ? 'ok' : 'error'}`),
      });
      const broker = makeBroker({ middlewares: [factory] });
      const list = uid('hooks');
      const got = new Inbox<string | undefined>();
      broker.subscriber(new ListSub(list), (_b, msg) => got.push(msg.headers['traced']));
      await broker.start();
      await broker.publish('x', { list });
      expect(await got.next()).toBe('yes');
      await eventually(() => calls.length >= 3);
      expect(calls).toEqual(['publish:publish', 'receive:msg', 'after:ok']);
    });

    it('can mark an error handled from afterProcessed, so the entry is acknowledged', async () => {
      const broker = makeBroker({ middlewares: [{ afterProcessed: () => true }] });
      const stream = uid('suppress');
      const seen = new Inbox<{ status: string | undefined }>();
      broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c' }), (_b, msg) => {
        setImmediate(() => setImmediate(() => seen.push(msg)));
        throw new Error('handled by middleware');
      });
      await broker.start();
      await broker.publish(1, { stream });
      expect((await seen.next()).status).toBe('acked');
    });

    it('refuses a consume scope that calls next() twice', async () => {
      const twice: Middleware = {
        async consumeScope(next, msg) {
          await next(msg);
          return next(msg);
        },
      };
      const broker = makeBroker({ middlewares: [twice] });
      const stream = uid('twice');
      const runs = new Inbox<number>();
      let count = 0;
      broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c' }), () => {
        count += 1;
        setImmediate(() => setImmediate(() => runs.push(count)));
      });
      await broker.start();
      await broker.publish(1, { stream });
      expect(await runs.next()).toBe(1);
      await eventually(async () => ((await rawClient().xpending(stream, 'g')) as [number])[0] === 1);
    });
  });
});
