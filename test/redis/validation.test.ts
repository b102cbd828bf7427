import * as v from 'valibot';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { ListSub, RedisBroker, StreamSub, ValidationError, type Message } from '../../src/index.js';
import { makeBroker, recordingLogger, uid } from '../helpers/redis.js';
import { Inbox } from '../helpers/wait.js';

const Order = z.object({ id: z.string(), qty: z.number().int() });

describe('schema validation (Standard Schema)', () => {
  it('hands the validated (and transformed) value to the handler, with zod', async () => {
    const broker = makeBroker();
    const list = uid('zod');
    const got = new Inbox<{ id: string; qty: number; big: boolean }>();
    const schema = Order.transform((o) => ({ ...o, big: o.qty > 10 }));
    broker.subscriber({ list }, { schema }, (order) => got.push(order));
    await broker.start();
    await broker.publish({ id: 'a1', qty: 12 }, { list });
    expect(await got.next()).toEqual({ id: 'a1', qty: 12, big: true });
  });

  it('treats a body that fails validation as a handler error, logged with the issues', async () => {
    const logger = recordingLogger();
    const broker = makeBroker({ logger });
    const stream = uid('invalid');
    const handled = new Inbox<unknown>();
    const processed = new Inbox<Message>();
    broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c' }), { schema: Order, ackPolicy: 'rejectOnError', middlewares: [{ afterProcessed: (_e, msg) => processed.push(msg) }] }, (order) => handled.push(order));
    await broker.start();
    await broker.publish({ id: 7 }, { stream });
    const msg = await processed.next();
    // stop() waits for the message to be settled.
    await broker.stop();
    expect(msg.status).toBe('rejected');
    expect(handled.items).toEqual([]);
    // One concise line: the issues as structured context, no stack (that goes to debug).
    const errors = logger.lines.filter((l) => l.level === 'error' && l.message.startsWith('ValidationError'));
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/^ValidationError: Message body failed validation for subscriber ".*": id: .*; qty: /);
    expect(errors[0]!.context['err']).toBeUndefined();
    expect(errors[0]!.context['issues']).toEqual(expect.arrayContaining([expect.objectContaining({ path: ['id'] })]));
    expect(logger.lines.find((l) => l.level === 'debug')?.context['err']).toBeInstanceOf(ValidationError);
  });

  it('validates every item of a batch, with valibot', async () => {
    const broker = makeBroker();
    const list = uid('valibot');
    const got = new Inbox<number[]>();
    broker.subscriber(new ListSub(list, { batch: true }), { schema: v.pipe(v.string(), v.transform(Number)) }, (items) => got.push(items));
    await broker.start();
    await broker.publishBatch(['1', '2', '3'], { list });
    expect((await got.take(1))[0]).toEqual([1, 2, 3]);
  });
});

describe('handler types', () => {
  it('infers the body from the schema, an array for batch sources', () => {
    const broker = new RedisBroker({ logger: null });
    broker.subscriber({ stream: 'orders' }, { schema: Order }, (order, msg) => {
      expectTypeOf(order).toEqualTypeOf<{ id: string; qty: number }>();
      expectTypeOf(msg).toEqualTypeOf<Message<{ id: string; qty: number }>>();
    });
    broker.subscriber(new StreamSub('orders', { batch: true }), { schema: Order }, (orders) => {
      expectTypeOf(orders).toEqualTypeOf<Array<{ id: string; qty: number }>>();
    });
    broker.subscriber({ list: new ListSub('jobs', { batch: true }) }, (items) => {
      expectTypeOf(items).toEqualTypeOf<unknown[]>();
    });
    broker.subscriber('plain', (body) => {
      expectTypeOf(body).toEqualTypeOf<unknown>();
    });
    broker.subscriber('logs.{level}', (line: string, msg) => {
      expectTypeOf(line).toEqualTypeOf<string>();
      expectTypeOf(msg.path).toEqualTypeOf<Readonly<Record<string, string>>>();
    });
    // Compile-time checks only: these calls are wrong on purpose and never run.
    const neverRun = (): void => {
      // @ts-expect-error a handler cannot claim a body type the schema does not produce
      broker.subscriber('typed', { schema: Order }, (order: number) => order);
      // @ts-expect-error two destinations at once do not compile
      broker.subscriber({ channel: 'a', list: 'b' }, () => undefined);
      // @ts-expect-error maxlen is for streams only
      void broker.publish(1, { list: 'l', maxlen: 5 });
      expectTypeOf(broker.publish(1, { stream: 's' })).toEqualTypeOf<Promise<string>>();
      expectTypeOf(broker.publish(1, 'ch')).toEqualTypeOf<Promise<number>>();
    };
    // Checked by the type checker (npm run typecheck), not at run time.
    void neverRun;
  });
});
