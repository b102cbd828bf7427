/**
 * Redis going away under a connected broker, on a redis-server of the test's own (a free port,
 * killed and restarted here), so no other suite is disturbed.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NotConnectedError, RedisBroker, StreamSub } from '../../src/index.js';
import { freePort, killRedis, pidFile, startRedis, waitForPing } from '../helpers/throwaway.js';
import { Inbox } from '../helpers/wait.js';

const started: number[] = [];
afterEach(() => {
  for (const port of started.splice(0)) killRedis(port);
});

function start(port: number): void {
  startRedis(port);
  started.push(port);
}

describe('publishing while Redis is down', () => {
  it('fails after commandRetries reconnect attempts with a NotConnectedError naming the option', async () => {
    const port = await freePort();
    start(port);
    const broker = new RedisBroker(`redis://127.0.0.1:${port}`, { logger: null, commandRetries: 3 });
    await broker.connect();
    killRedis(port);
    const error = await broker.publish('x', { list: 'outage' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotConnectedError);
    expect((error as Error).message).toMatch(/RPUSH failed: Redis at 127\.0\.0\.1:\d+ stayed unreachable through 3 reconnect attempts \(option `commandRetries`\)/);
    await broker.close();
  });

  it('goes through once Redis is back within the retries', async () => {
    const port = await freePort();
    start(port);
    const broker = new RedisBroker(`redis://127.0.0.1:${port}`, { logger: null });
    await broker.connect();
    killRedis(port);
    const publish = broker.publish('x', { list: 'outage' });
    start(port);
    await expect(publish).resolves.toBe(1);
    await broker.close();
  });
});

describe('a Redis restart (AOF, appendfsync always) while a stream group consumes', () => {
  /** A durable server in `dir`: killed with SIGKILL, it restarts with every acknowledged write. */
  function startDurable(port: number, dir: string): void {
    execFileSync('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--daemonize', 'yes', '--dir', dir, '--save', '',
      '--appendonly', 'yes', '--appendfsync', 'always', '--pidfile', pidFile(port), '--logfile', join(dir, 'redis.log'),
    ]);
    started.push(port);
    waitForPing(port);
  }

  it('processes every publish that resolved, stranding nothing in the pending list', async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'redstream-aof-'));
    startDurable(port, dir);
    const url = `redis://127.0.0.1:${port}`;
    const consumer = new RedisBroker(url, { logger: null, gracefulTimeout: 2000 });
    const publisher = new RedisBroker(url, { logger: null });
    const seen = new Inbox<number>();
    consumer.subscriber(new StreamSub('orders', { group: 'g', consumer: 'c', pollingInterval: 50 }), { maxWorkers: 8 }, (n: number) => seen.push(n));
    try {
      await consumer.start();
      const resolved: number[] = [];
      const publishing = (async () => {
        for (let n = 0; n < 600; n += 1) {
          await publisher.publish(n, { stream: 'orders' }).then(() => resolved.push(n), () => undefined);
          // Pacing, so the restart falls in the middle of a steady flow.
          if (n % 10 === 0) await new Promise((resolveTick) => setTimeout(resolveTick, 5));
        }
      })();
      await seen.until((items) => items.length >= 200, 20_000, '200 messages processed');
      killRedis(port);
      const before = seen.items.length;
      startDurable(port, dir);
      const restarted = Date.now();
      await seen.until((items) => items.length > before, 20_000, 'a message processed after the restart');
      const firstAfter = Date.now() - restarted;
      await publishing;
      await seen.until((items) => resolved.every((n) => items.includes(n)), 30_000, () => `every resolved publish processed (${resolved.filter((n) => !seen.items.includes(n)).length} missing)`);
      expect(resolved.length).toBeGreaterThan(500);
      console.log(
        `Redis restart (AOF): first message processed ${firstAfter} ms after the server started again; ` +
          `${resolved.length} of 600 publishes resolved, all processed, ${seen.items.length - new Set(seen.items).size} twice`,
      );
    } finally {
      await consumer.close();
      await publisher.close();
      killRedis(port);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
