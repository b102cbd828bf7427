import { describe, expect, it } from 'vitest';
import { ListSub, RedisRouter, StreamSub, type Middleware, type MiddlewareFactory } from '../../src/index.js';
import { recordingLogger, targets, uid } from '../helpers/redis.js';
import { eventually, Inbox } from '../helpers/wait.js';

// A value the tests' handlers reach through msg.context (optional, so other tests need not give it).
declare module '../../src/core/context.js' {
  interface Context {
    readonly pool?: { readonly name: string };
  }
}

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
      const handled = new Inbox<{ status: string | undefined; source: { name: string } }>();
      const fail = async (_b: unknown, msg: { status: string | undefined; source: { name: string } }) => {
        handled.push(msg);
        throw new Error('x');
      };
      router.subscriber(new StreamSub(`${stream}.r`, { group: 'g', consumer: 'c' }), fail);
      router.subscriber(new StreamSub(`${stream}.s`, { group: 'g', consumer: 'c' }), { ackPolicy: 'nackOnError' }, fail);
      broker.subscriber(new StreamSub(`${stream}.b`, { group: 'g', consumer: 'c' }), fail);
      broker.includeRouter(router);
      await broker.start();
      for (const kind of ['r', 's', 'b']) await broker.publish(1, { stream: `${stream}.${kind}` });
      const messages = await handled.take(3);
      // stop() waits for the handlers and their settlement: every status is final.
      await broker.stop();
      const statusOf = (kind: string) => messages.find((msg) => msg.source.name === `${stream}.${kind}`)?.status;
      expect({ r: statusOf('r'), s: statusOf('s'), b: statusOf('b') }).toEqual({ r: 'rejected', s: 'nacked', b: 'acked' });
    });
  });

  describe('context', () => {
    it("gives handlers and middlewares the broker, its logger and the application's values", async () => {
      const pool = { name: 'db-pool' };
      const broker = makeBroker({ context: { pool } });
      const list = uid('context');
      const seen = new Inbox<unknown[]>();
      const middleware: MiddlewareFactory = ({ message }) => ({
        onReceive: () => void seen.push(['middleware', message?.context?.pool?.name]),
      });
      broker.subscriber({ list }, { middlewares: [middleware] }, (_body, msg) => {
        seen.push(['handler', msg.context?.pool === pool, msg.context?.broker === broker, typeof msg.context?.logger.info]);
      });
      await broker.start();
      await broker.publish('x', { list });
      expect(await seen.take(2)).toEqual([
        ['middleware', 'db-pool'],
        ['handler', true, true, 'function'],
      ]);
    });
  });

  describe('middlewares', () => {
    it('call every hook; factories get a fresh instance per message and can change published headers', async () => {
      const calls = new Inbox<string>();
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
      await calls.take(3);
      expect(calls.items).toEqual(['publish:publish', 'receive:msg', 'after:ok']);
    });

    it('can mark an error handled from afterProcessed, so the entry is acknowledged', async () => {
      const broker = makeBroker({ middlewares: [{ afterProcessed: () => true }] });
      const stream = uid('suppress');
      const seen = new Inbox<{ status: string | undefined }>();
      broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c' }), (_b, msg) => {
        seen.push(msg);
        throw new Error('handled by middleware');
      });
      await broker.start();
      await broker.publish(1, { stream });
      const msg = await seen.next();
      // stop() waits for the handler and its settlement.
      await broker.stop();
      expect(msg.status).toBe('acked');
    });

    it('hand a consume scope a promise from next(), even for a synchronous handler, and its throw as a rejection', async () => {
      const outcomes = new Inbox<string>();
      // Not async: it relies on next() returning a promise, as the Middleware contract says.
      const promiseUser: Middleware = {
        consumeScope: (next, msg) =>
          next(msg).then(
            (value) => (outcomes.push(`resolved ${String(value)}`), value),
            (error: unknown) => (outcomes.push(`rejected ${(error as Error).message}`), undefined),
          ),
      };
      const broker = makeBroker({ middlewares: [promiseUser] });
      const list = uid('promise-next');
      broker.subscriber({ list }, (body: string) => {
        if (body === 'throw') throw new Error('sync throw');
        return undefined;
      });
      await broker.start();
      await broker.publish('fine', { list });
      await broker.publish('throw', { list });
      expect(await outcomes.take(2)).toEqual(['resolved undefined', 'rejected sync throw']);
    });

    it('refuses a consume scope that calls next() twice', async () => {
      const twice: Middleware = {
        async consumeScope(next, msg) {
          await next(msg);
          return next(msg);
        },
      };
      const logger = recordingLogger();
      const broker = makeBroker({ logger, middlewares: [twice] });
      const stream = uid('twice');
      const runs = new Inbox<true>();
      broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c' }), () => runs.push(true));
      await broker.start();
      await broker.publish(1, { stream });
      await runs.next();
      // The second next() fails the message (left pending by nackOnError) instead of running the handler again.
      expect((await logger.line((l) => l.level === 'error')).message).toMatch(/next\(\) called more than once/);
      await broker.stop();
      expect(runs.items).toHaveLength(1);
      expect(((await rawClient().xpending(stream, 'g')) as [number])[0]).toBe(1);
    });
  });
});
