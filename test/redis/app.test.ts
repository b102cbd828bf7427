import { describe, expect, it } from 'vitest';
import { App } from '../../src/index.js';
import { targets, uid } from '../helpers/redis.js';
import { Inbox } from '../helpers/wait.js';

describe.each(targets)('on $name', ({ makeBroker }) => {
  describe('App', () => {
    it('runs hooks around the broker in FastStream order and stops on exit()', async () => {
      const broker = makeBroker();
      const order: string[] = [];
      const list = uid('app');
      const got = new Inbox<string>();
      broker.subscriber({ list }, (body: string) => got.push(body));
      const app = new App(broker, { logger: null })
        .onStartup(() => void order.push(`onStartup:${broker.state}`))
        .afterStartup(async () => {
          order.push(`afterStartup:${broker.state}`);
          await broker.publish('hello', { list });
          await got.next();
          app.exit();
        })
        .onShutdown(() => void order.push(`onShutdown:${broker.state}`))
        .afterShutdown(() => void order.push(`afterShutdown:${broker.state}`));
      await app.run();
      expect(order).toEqual(['onStartup:idle', 'afterStartup:running', 'onShutdown:running', 'afterShutdown:idle']);
    });

    it('shuts down gracefully on a signal', async () => {
      const broker = makeBroker();
      const app = new App(broker, { logger: null, signals: ['SIGUSR2'] });
      const stopped = new Inbox<string>();
      app.afterStartup(() => void process.kill(process.pid, 'SIGUSR2'));
      app.afterShutdown(() => stopped.push(broker.state));
      await app.run();
      expect(stopped.items).toEqual(['idle']);
      expect(process.listenerCount('SIGUSR2')).toBe(0);
    });
  });
});
