import { describe, expect, it } from 'vitest';
import { ListSub, PubSub, StreamSub, type Message } from '../../src/index.js';
import { fixtureBytes } from '../helpers/fixtures.js';
import { recordingLogger, targets, uid } from '../helpers/redis.js';
import { Inbox } from '../helpers/wait.js';

describe.each(targets)('on $name', ({ makeBroker, rawClient }) => {
  /** Bytes a real FastStream 0.7.4 wrote, consumed by redstream on real Redis, and the reverse. */
  describe('FastStream interop on a real Redis node', () => {
    it('consumes a FastStream list message with its body, headers and correlation id', async () => {
      const broker = makeBroker();
      const list = uid('fs-list');
      const got = new Inbox<Message>();
      broker.subscriber({ list }, (_body, msg) => got.push(msg));
      await broker.start();
      await rawClient().rpush(list, fixtureBytes('list-str-replyto.hex'));
      const msg = await got.next();
      expect(msg.body).toBe('hello');
      expect(msg.correlationId).toBe('cid-1');
      expect(msg.replyTo).toBe('fsv:reply-to');
      expect(msg.contentType).toBe('text/plain');
      expect(msg.headers).toEqual({ correlation_id: 'cid-1', 'content-type': 'text/plain', reply_to: 'fsv:reply-to', x: 'y' });
    });

    it('consumes FastStream stream and channel messages, including non-ASCII headers', async () => {
      const broker = makeBroker();
      const stream = uid('fs-stream');
      const channel = uid('fs-channel');
      const got = new Inbox<Message>();
      broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'c' }), (_b, msg) => got.push(msg));
      broker.subscriber(new ListSub(`${stream}:l`), (_b, msg) => got.push(msg));
      broker.subscriber(new PubSub(channel), (_b, msg) => got.push(msg));
      await broker.start();
      const raw = rawClient();
      const entryId = await raw.xadd(stream, '*', '__data__', fixtureBytes('stream-dict.hex'));
      const [first] = await got.take(1);
      expect(first!.body).toEqual({ a: 1 });
      expect(first!.messageId).toBe(entryId);
      expect(first!.correlationId).toBe('cid-1');
      await raw.rpush(`${stream}:l`, fixtureBytes('list-header-nonascii.hex'));
      const [, second] = await got.take(2);
      expect(second!.headers['x']).toBe('é');
      await raw.publish(channel, fixtureBytes('channel-bytes.hex'));
      const [, , third] = await got.take(3);
      expect(third!.body).toEqual(Buffer.from([0, 1]));
      expect(third!.headers).toEqual({ correlation_id: 'cid-1', x: 'y' });
    });

    it('writes the bytes FastStream writes for the same call, on every destination kind', async () => {
      const broker = makeBroker();
      const raw = rawClient();
      const list = uid('rs-list');
      const stream = uid('rs-stream');
      await broker.publish('hello', { list, headers: { x: 'y' }, correlationId: 'cid-1' });
      await broker.publish({ a: 1 }, { stream, headers: { x: 'y' }, correlationId: 'cid-1' });
      await broker.publishBatch(['a', { b: 2 }], { list: `${list}:batch`, headers: { x: 'y' }, correlationId: 'cid-1' });
      expect(await raw.lrangeBuffer(list, 0, -1)).toEqual([fixtureBytes('list-str.hex')]);
      expect(await raw.lrangeBuffer(`${list}:batch`, 0, -1)).toEqual([fixtureBytes('list-batch-0.hex'), fixtureBytes('list-batch-1.hex')]);
      const entries = await raw.xrangeBuffer(stream, '-', '+');
      expect(entries[0]![1]).toEqual([Buffer.from('__data__'), fixtureBytes('stream-dict.hex')]);

      const channel = uid('rs-channel');
      const sub = rawClient();
      const received = new Inbox<Buffer>();
      sub.on('messageBuffer', (_c: Buffer, payload: Buffer) => received.push(payload));
      await sub.subscribe(channel);
      await broker.publish(Buffer.from([0, 1]), { channel, headers: { x: 'y' }, correlationId: 'cid-1' });
      expect(await received.next()).toEqual(fixtureBytes('channel-bytes.hex'));
    });

    it('trims with XADD MAXLEN ~ like FastStream', async () => {
      const broker = makeBroker();
      const raw = rawClient();
      const stream = uid('maxlen');
      for (let i = 0; i < 300; i += 1) await broker.publish(i, { stream, maxlen: 100 });
      const length = await raw.xlen(stream);
      // Approximate trimming keeps at least maxlen and drops whole nodes of the radix tree.
      expect(length).toBeGreaterThanOrEqual(100);
      expect(length).toBeLessThan(300);
    });

    it('keeps consuming after a truncated envelope, delivering its raw bytes and logging why', async () => {
      const logger = recordingLogger();
      const broker = makeBroker({ logger });
      const list = uid('corrupt');
      const got = new Inbox<Message>();
      broker.subscriber({ list }, (_b, msg) => got.push(msg));
      await broker.start();
      const truncated = fixtureBytes('list-dict.hex').subarray(0, 40);
      await rawClient().rpush(list, truncated, fixtureBytes('list-dict.hex'));
      const [broken, fine] = await got.take(2);
      expect(broken!.rawBody).toEqual(truncated);
      expect(broken!.headers).toEqual({});
      expect(fine!.body).toEqual({ a: 1 });
      expect(logger.lines.some((l) => l.level === 'warn' && l.message.includes('could not be read'))).toBe(true);
    });
  });
});
