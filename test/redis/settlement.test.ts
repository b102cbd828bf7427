import { describe, expect, it } from 'vitest';
import { decodeEnvelope } from '../../src/core/codec/index.js';
import {
  NackMessage,
  PubSub,
  RejectMessage,
  SkipMessage,
  StreamSub,
  type AckPolicy,
  type Message,
  type Middleware,
  type MiddlewareContext,
  type PublishCommand,
  type Settlement,
} from '../../src/index.js';
import { targets, uid } from '../helpers/redis.js';
import { eventually, Inbox } from '../helpers/wait.js';

/** A middleware that records every settlement it is told of. */
function settlements(): { middleware: Middleware; seen: Inbox<{ settlement: Settlement; message: Message }> } {
  const seen = new Inbox<{ settlement: Settlement; message: Message }>();
  return { seen, middleware: { afterSettled: (settlement, message) => seen.push({ settlement, message }) } };
}

describe.each(targets)('on $name', ({ makeBroker, rawClient }) => {
  describe('afterSettled', () => {
    /** Runs one message through a group subscriber whose handler does `handle`, and returns its settlement. */
    async function settle(handle: (msg: Message) => unknown, options: { ackPolicy?: AckPolicy; deadLetter?: boolean } = {}): Promise<Settlement> {
      const broker = makeBroker();
      const stream = uid('settle');
      const { middleware, seen } = settlements();
      const source = new StreamSub(stream, { group: 'g', consumer: 'c', ...(options.deadLetter ? { deadLetter: `${stream}:dlq` } : {}) });
      broker.subscriber(source, { middlewares: [middleware], ...(options.ackPolicy ? { ackPolicy: options.ackPolicy } : {}) }, (_body, msg) => handle(msg));
      await broker.start();
      await broker.publish('x', { stream });
      return (await seen.next()).settlement;
    }

    it('reports an acknowledged message with its durations and its subscriber', async () => {
      const settlement = await settle(() => 'done');
      expect(settlement).toMatchObject({ status: 'acked', settledAs: 'acked', error: undefined });
      expect(settlement.subscriber).toMatchObject({ kind: 'stream', group: 'g', batch: false });
      expect(settlement.processMs).toBeGreaterThanOrEqual(0);
      expect(settlement.settleMs).toBeGreaterThanOrEqual(0);
    });

    it('reports a failed handler as error, with what the ack policy did', async () => {
      const failure = new Error('boom');
      const nacked = await settle(() => {
        throw failure;
      });
      expect(nacked).toMatchObject({ status: 'error', settledAs: 'nacked', error: failure });
      const acked = await settle(() => {
        throw failure;
      }, { ackPolicy: 'ack' });
      expect(acked).toMatchObject({ status: 'error', settledAs: 'acked', error: failure });
    });

    it('reports control flow as what it did: nacked, rejected, skipped', async () => {
      expect(await settle(() => { throw new NackMessage(); })).toMatchObject({ status: 'nacked', settledAs: 'nacked', error: undefined });
      expect(await settle(() => { throw new RejectMessage(); })).toMatchObject({ status: 'rejected', settledAs: 'rejected', error: undefined });
      expect(await settle(() => { throw new SkipMessage(); })).toMatchObject({ status: 'skipped', settledAs: 'skipped', error: undefined });
      expect(await settle(() => 'left alone', { ackPolicy: 'manual' })).toMatchObject({ status: 'skipped', settledAs: 'skipped' });
    });

    it('reports a message moved to the dead-letter stream, explicitly or by the ack policy', async () => {
      expect(await settle((msg) => msg.reject('bad'), { deadLetter: true })).toMatchObject({ status: 'dead-lettered', settledAs: 'dead-lettered' });
      const failure = new Error('poison');
      const byPolicy = await settle(() => {
        throw failure;
      }, { ackPolicy: 'rejectOnError', deadLetter: true });
      expect(byPolicy).toMatchObject({ status: 'error', settledAs: 'dead-lettered', error: failure });
    });

    it('names a pattern subscriber by its template, not by the concrete channel', async () => {
      const broker = makeBroker();
      const base = uid('logs');
      const { middleware, seen } = settlements();
      const contexts = new Inbox<MiddlewareContext>();
      const factory = (context: MiddlewareContext): Middleware => {
        contexts.push(context);
        return {};
      };
      broker.subscriber(new PubSub(`${base}.{level}`), { middlewares: [middleware, factory] }, () => undefined);
      await broker.start();
      await broker.publish('line', `${base}.warn`);
      const { settlement, message } = await seen.next();
      expect(message.source.name).toBe(`${base}.warn`);
      expect(settlement.subscriber).toMatchObject({ name: `${base}.{level}`, kind: 'pattern', group: undefined });
      expect(settlement.status).toBe('acked');
      const context = await contexts.next();
      expect(context.message).toBe(message);
      expect(context.subscriber?.name).toBe(`${base}.{level}`);
    });

    it('keeps consuming when a hook throws, and logs it', async () => {
      const broker = makeBroker();
      const list = uid('hook-throws');
      const got = new Inbox<string>();
      const failing: Middleware = {
        afterSettled: () => {
          throw new Error('hook failed');
        },
      };
      broker.subscriber({ list }, { middlewares: [failing] }, (body: string) => got.push(body));
      await broker.start();
      await broker.publish('a', { list });
      await broker.publish('b', { list });
      expect(await got.take(2)).toEqual(['a', 'b']);
    });
  });

  describe('dead letters are publishes', () => {
    it('pass through publishScope as type dead-letter, and what the scope changes is what lands', async () => {
      const broker = makeBroker();
      const stream = uid('dl-scope');
      const dlq = `${stream}:dlq`;
      const commands = new Inbox<PublishCommand>();
      const stamp: Middleware = {
        publishScope: (next, command) => {
          commands.push({ ...command, headers: { ...command.headers } });
          if (command.type === 'dead-letter') command.headers['x-seen-by'] = 'audit';
          return next(command);
        },
      };
      broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c', deadLetter: dlq }), { middlewares: [stamp] }, (_body, msg) => msg.reject('refused'));
      await broker.start();
      await broker.publish({ order: 7 }, { stream, correlationId: 'cid-7', headers: { tenant: 't1' } });
      const command = await commands.find((c) => c.type === 'dead-letter');
      expect(command).toMatchObject({ destination: dlq, destinationType: 'stream', correlationId: 'cid-7', batch: false });
      expect(Buffer.from(command.body as Uint8Array).toString()).toBe('{"order":7}');
      expect(command.headers).toMatchObject({ tenant: 't1', 'x-dead-letter-reason': 'rejected', 'x-dead-letter-stream': stream, 'x-dead-letter-error': 'refused' });
      await eventually(async () => (await rawClient().xlen(dlq)) === 1, 5000, 'the dead letter');
      const [entry] = await rawClient().xrangeBuffer(dlq, '-', '+');
      const { headers, payload } = decodeEnvelope(entry![1][1]!);
      expect(payload.toString()).toBe('{"order":7}');
      expect(headers).toMatchObject({ correlation_id: 'cid-7', 'content-type': 'application/json', tenant: 't1', 'x-seen-by': 'audit', 'x-dead-letter-reason': 'rejected' });
    });

    it('found past maxDeliveries at read time also pass through publishScope', async () => {
      const stream = uid('dl-read');
      const dlq = `${stream}:dlq`;
      const crashed = makeBroker({ gracefulTimeout: 0 });
      const holding = new Inbox<true>();
      crashed.subscriber(new StreamSub(stream, { group: 'g', consumer: 'gone' }), () => {
        holding.push(true);
        return new Promise(() => undefined);
      });
      await crashed.start();
      await crashed.publish('stuck', { stream });
      await holding.next();
      await crashed.stop();
      const commands = new Inbox<PublishCommand>();
      const watch: Middleware = {
        publishScope: (next, command) => {
          commands.push(command);
          return next(command);
        },
      };
      const broker = makeBroker();
      const handled = new Inbox<unknown>();
      broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'next', minIdleTime: 1, maxDeliveries: 1, deadLetter: dlq }), { middlewares: [watch] }, (body) => handled.push(body));
      await broker.start();
      const command = await commands.find((c) => c.type === 'dead-letter');
      expect(command.headers).toMatchObject({ 'x-dead-letter-reason': 'max-deliveries' });
      await eventually(async () => (await rawClient().xlen(dlq)) === 1, 5000, 'the dead letter');
      expect(handled.items).toEqual([]);
    });
  });
});
