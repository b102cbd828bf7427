/**
 * Redis going away under a connected broker, on a redis-server of the test's own (a free port,
 * killed and restarted here), so no other suite is disturbed.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { NotConnectedError, RedisBroker } from '../../src/index.js';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const DIR = process.env['REDSTREAM_REDIS_DIR'] ?? '/tmp/redstream-redis';
const started: number[] = [];
afterEach(() => {
  for (const port of started.splice(0)) kill(port);
});

function freePort(): Promise<number> {
  return new Promise((resolvePort) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

function startRedis(port: number): void {
  execFileSync('bash', [join(root, 'scripts/redis-node.sh'), 'plain', String(port)]);
  started.push(port);
}

function kill(port: number): void {
  try {
    process.kill(Number(readFileSync(join(DIR, `redis-${port}.pid`), 'utf8')), 'SIGKILL');
  } catch {
    // Already gone.
  }
}

describe('publishing while Redis is down', () => {
  it('fails after commandRetries reconnect attempts with a NotConnectedError naming the option', async () => {
    const port = await freePort();
    startRedis(port);
    const broker = new RedisBroker(`redis://127.0.0.1:${port}`, { logger: null, commandRetries: 3 });
    await broker.connect();
    kill(port);
    const error = await broker.publish('x', { list: 'outage' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotConnectedError);
    expect((error as Error).message).toMatch(/RPUSH failed: Redis at 127\.0\.0\.1:\d+ stayed unreachable through 3 reconnect attempts \(option `commandRetries`\)/);
    await broker.close();
  });

  it('goes through once Redis is back within the retries', async () => {
    const port = await freePort();
    startRedis(port);
    const broker = new RedisBroker(`redis://127.0.0.1:${port}`, { logger: null });
    await broker.connect();
    kill(port);
    const publish = broker.publish('x', { list: 'outage' });
    startRedis(port);
    await expect(publish).resolves.toBe(1);
    await broker.close();
  });
});
