import { describe, expect, it } from 'vitest';
import { OptionError, RequestTimeoutError, Response, StreamSub, type Middleware } from '../../src/index.js';
import { targets, uid } from '../helpers/redis.js';
import { Inbox } from '../helpers/wait.js';

describe.each(targets)('on $name', ({ makeBroker }) => {
  describe('request / reply', () => {
    it.each([
      ['channel', (name: string) => ({ channel: name })],
      ['list', (name: string) => ({ list: name })],
      ['stream', (name: string) => ({ stream: new StreamSub(name, { group: 'g', consumer: 'c' }) })],
    ] as const)('answers a request sent to a %s with the handler return value', async (_kind, source) => {
      const server = makeBroker();
      const client = makeBroker();
      const name = uid('rpc');
      server.subscriber(source(name), (body: { n: number }) => ({ doubled: body.n * 2 }));
      await server.start();
      const reply = await client.request({ n: 21 }, { ...(source(name) as object), timeout: 3000, correlationId: 'rpc-1' } as never);
      expect(reply.body).toEqual({ doubled: 42 });
      expect(reply.correlationId).toBe('rpc-1');
      expect(reply.contentType).toBe('application/json');
    });

    it('times out from the call even while its publish is stuck, and leaves nothing unhandled', async () => {
      const release = new Inbox<true>();
      // A publish that does not complete until the test lets it: Redis stalled, as far as the caller sees.
      const stall: Middleware = {
        publishScope: async (next, command) => {
          await release.next(10_000);
          return next(command);
        },
      };
      const client = makeBroker({ middlewares: [stall] });
      const request = client.request('ping', { channel: uid('rpc-stalled'), timeout: 100 });
      await expect(request).rejects.toBeInstanceOf(RequestTimeoutError);
      // Once the publish goes through, its late completion must not surface anywhere.
      release.push(true);
    });

    it('matches many concurrent requests to their replies through one inbox', async () => {
      const server = makeBroker();
      const client = makeBroker();
      const channel = uid('rpc-many');
      server.subscriber(channel, async (n: number) => {
        await new Promise((resolve) => setTimeout(resolve, (n * 7) % 13));
        return n + 1000;
      });
      await server.start();
      const replies = await Promise.all(Array.from({ length: 100 }, (_, n) => client.request(n, { channel, timeout: 5000 })));
      expect(replies.map((r) => r.body)).toEqual(Array.from({ length: 100 }, (_, n) => n + 1000));
    });

    it('refuses a second request under the correlation id of one still waiting, and answers the first', async () => {
      const server = makeBroker();
      const client = makeBroker();
      const channel = uid('rpc-same-id');
      const gate = new Inbox<true>();
      server.subscriber(channel, async (n: number) => {
        await gate.next(5000);
        return n;
      });
      await server.start();
      const first = client.request(1, { channel, timeout: 5000, correlationId: 'same' });
      const second = await client.request(2, { channel, timeout: 5000, correlationId: 'same' }).catch((e: unknown) => e);
      expect(second).toBeInstanceOf(OptionError);
      expect((second as OptionError).message).toMatch(/`correlationId` to be unique among requests still waiting/);
      gate.push(true);
      expect((await first).body).toBe(1);
    });

    it('rejects with a typed timeout error naming the destination', async () => {
      const client = makeBroker();
      const channel = uid('nobody');
      const error = await client.request('ping', { channel, timeout: 150 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RequestTimeoutError);
      expect((error as RequestTimeoutError).message).toContain(`channel "${channel}"`);
      expect((error as RequestTimeoutError).code).toBe('ERR_REDSTREAM_REQUEST_TIMEOUT');
    });

    it('carries Response headers and correlation id on the reply', async () => {
      const server = makeBroker();
      const client = makeBroker();
      const channel = uid('rpc-response');
      server.subscriber(channel, () => new Response('done', { headers: { status: 'ok' } }));
      await server.start();
      const reply = await client.request('go', { channel, correlationId: 'keep-me' });
      expect(reply.body).toBe('done');
      expect(reply.headers['status']).toBe('ok');
      expect(reply.correlationId).toBe('keep-me');
    });

    it('does not answer with noReply', async () => {
      const server = makeBroker();
      const client = makeBroker();
      const channel = uid('noreply');
      const got = new Inbox<string>();
      server.subscriber(channel, { noReply: true }, (body: string) => {
        got.push(body);
        return 'would-be-reply';
      });
      await server.start();
      const pending = client.request('x', { channel, timeout: 300 });
      expect(await got.next()).toBe('x');
      await expect(pending).rejects.toBeInstanceOf(RequestTimeoutError);
    });
  });
});
