import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { decodeEnvelope, encodeEnvelope } from '../../src/core/codec/index.js';
import { RedisRouter, StreamSub } from '../../src/index.js';
import { targets, uid } from '../helpers/redis.js';
import { eventually, Inbox } from '../helpers/wait.js';

describe.each(targets)('on $name', ({ makeBroker, rawClient }) => {
  /** The reasons of a dead-letter stream's entries. */
  async function reasons(stream: string): Promise<string[]> {
    const entries = await rawClient().xrangeBuffer(stream, '-', '+');
    return entries.map(([, fields]) => decodeEnvelope(fields[1]!).headers['x-dead-letter-reason'] ?? '');
  }

  async function pending(stream: string): Promise<number> {
    return ((await rawClient().xpending(stream, 'g')) as [number])[0];
  }

  describe('messages that can never be handled, under the default nackOnError', () => {
    it('dead-letter an undecodable entry (reason decode) and one failing the schema (reason validation), not redeliver them', async () => {
      const broker = makeBroker();
      const stream = uid('permanent');
      const dlq = `${stream}:dlq`;
      const handled = new Inbox<unknown>();
      broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c', deadLetter: dlq, minIdleTime: 50 }), { schema: z.object({ id: z.string() }) }, (order) => handled.push(order));
      await broker.start();
      // A FastStream-shaped entry whose payload is not the JSON its content-type says.
      await rawClient().xadd(stream, '*', '__data__', encodeEnvelope([['correlation_id', 'c1'], ['content-type', 'application/json']], '{"id": '));
      await broker.publish({ id: 7 }, { stream });
      await broker.publish({ id: 'fine' }, { stream });
      expect(await handled.next()).toEqual({ id: 'fine' });
      await eventually(async () => (await rawClient().xlen(dlq)) === 2, 5000, 'both dead letters');
      expect((await reasons(dlq)).sort()).toEqual(['decode', 'validation']);
      await eventually(async () => (await pending(stream)) === 0, 5000, 'nothing left pending');
      expect(handled.items).toEqual([{ id: 'fine' }]);
    });

    it('go to the dead-letter stream under the same router prefix as their stream', async () => {
      const broker = makeBroker();
      // One hash tag for both names, so the move is atomic on a cluster too.
      const prefix = `${uid('app')}.`;
      const router = new RedisRouter({ prefix });
      router.subscriber(new StreamSub('{orders}', { group: 'g', consumer: 'c', deadLetter: '{orders}:dlq' }), { schema: z.object({ id: z.string() }) }, () => undefined);
      broker.includeRouter(router);
      await broker.start();
      await broker.publish({ id: 7 }, { stream: `${prefix}{orders}` });
      await eventually(async () => (await rawClient().xlen(`${prefix}{orders}:dlq`)) === 1, 5000, 'the dead letter under the prefix');
      expect(await reasons(`${prefix}{orders}:dlq`)).toEqual(['validation']);
      expect(await rawClient().exists('{orders}:dlq')).toBe(0);
    });

    it('are dropped, with an error log, when there is no dead-letter stream', async () => {
      const broker = makeBroker();
      const stream = uid('permanent-drop');
      const handled = new Inbox<unknown>();
      broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c' }), { schema: z.number() }, (n) => handled.push(n));
      await broker.start();
      await broker.publish('not a number', { stream });
      await broker.publish(1, { stream });
      expect(await handled.next()).toBe(1);
      await eventually(async () => (await pending(stream)) === 0, 5000, 'nothing left pending');
    });
  });

  it.each(['list', 'stream', 'stream group'] as const)('keeps a %s subscriber consuming through random bytes', async (kind) => {
    const broker = makeBroker();
    const key = uid('garbage');
    const handled = new Inbox<unknown>();
    const source = kind === 'list' ? { list: key } : new StreamSub(key, kind === 'stream' ? { lastId: '0' } : { group: 'g', consumer: 'c' });
    broker.subscriber(source, (body) => handled.push(body));
    await broker.start();
    const raw = rawClient();
    for (let i = 0; i < 50; i += 1) {
      const bytes = randomBytes(1 + (i % 40));
      if (kind === 'list') await raw.rpush(key, bytes);
      else await raw.xadd(key, '*', i % 2 === 0 ? '__data__' : 'field', bytes);
    }
    if (kind === 'list') await broker.publish('after the garbage', { list: key });
    else await broker.publish('after the garbage', { stream: key });
    await handled.until((items) => items.includes('after the garbage'), 5000, 'the message after the garbage');
    expect(handled.items.length).toBe(51);
  });
});
