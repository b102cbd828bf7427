/**
 * TLS and ACL on every connection. The secure nodes have no plaintext port and the default user is
 * off, so a connection that lacked TLS could not connect and one that lacked the credentials could
 * run nothing: every subscriber kind working here proves both reached all of them (command,
 * blocking readers, Pub/Sub, sharded Pub/Sub, the reply inbox).
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { ListSub, NotConnectedError, PubSub, RedisBroker, RedisClusterBroker, RedisSentinelBroker, StreamSub, type RedisBrokerOptions } from '../../src/index.js';
import { targets, uid } from '../helpers/redis.js';
import { Inbox } from '../helpers/wait.js';

const DIR = process.env['REDSTREAM_REDIS_DIR'] ?? '/tmp/redstream-redis';
const ca = readFileSync(`${DIR}/tls/ca.crt`);
const user = 'redstream-app';
const password = 'redstream-test-secret';

const secureTargets = [
  { name: 'single', url: `rediss://${user}:${password}@127.0.0.1:6390`, ports: [6390], make: (url: string, o: RedisBrokerOptions) => new RedisBroker(url, o) },
  { name: 'cluster', url: `rediss://${user}:${password}@127.0.0.1:7200`, ports: [7200, 7201, 7202], make: (url: string, o: RedisBrokerOptions) => new RedisClusterBroker(url, o) },
  // The sentinel speaks TLS and has its own ACL user; the master is reached with the app's credentials.
  { name: 'sentinel', url: `rediss://${user}:${password}@sentinel-master/0`, ports: [6420, 6421], make: (url: string, o: RedisBrokerOptions) => new RedisSentinelBroker(url, { ...o, ...secureSentinel() }) },
] as const;

function secureSentinel(sentinelPassword = 'redstream-sentinel-secret') {
  return {
    sentinels: [['127.0.0.1', 26420]] as const,
    sentinelMasterName: 'redstream-tls',
    sentinelOptions: { username: 'redstream-sentinel', password: sentinelPassword, tls: { ca } },
  };
}

async function clients(port: number): Promise<string[]> {
  const node = new Redis({ host: '127.0.0.1', port, username: user, password, tls: { ca }, lazyConnect: true });
  try {
    await node.connect();
    return ((await node.client('LIST')) as string).trim().split('\n');
  } finally {
    node.disconnect();
  }
}

// The TLS node runs with the single-node project, the TLS cluster with the cluster project, the TLS
// Sentinel set with the sentinel project.
const projectSecureTargets = secureTargets.filter((secure) => targets.some((target) => target.name === secure.name));

describe.each(projectSecureTargets)('TLS and ACL on $name', ({ url, ports, make }) => {
  it('reach every connection the broker opens', async () => {
    const clientName = uid('secure').replace(/:/g, '-');
    const broker = make(url, { logger: null, tls: { ca }, clientName, gracefulTimeout: 1000 });
    try {
      const base = uid('tls');
      const got = new Inbox<string>();
      broker.subscriber(new StreamSub(`${base}:stream`, { group: 'g', consumer: 'c' }), (b: string) => got.push(`stream:${b}`));
      broker.subscriber(new ListSub(`${base}:list`), (b: string) => got.push(`list:${b}`));
      broker.subscriber(`${base}.channel`, (b: string) => got.push(`channel:${b}`));
      broker.subscriber(new PubSub(`${base}.sharded`, { sharded: true }), (b: string) => got.push(`sharded:${b}`));
      broker.subscriber(`${base}.rpc`, (b: string) => `re:${b}`);
      await broker.start();
      await broker.publish('1', { stream: `${base}:stream` });
      await broker.publish('2', { list: `${base}:list` });
      await broker.publish('3', `${base}.channel`);
      await broker.publish('4', { channel: new PubSub(`${base}.sharded`, { sharded: true }) });
      expect((await got.take(4)).sort()).toEqual(['channel:3', 'list:2', 'sharded:4', 'stream:1']);
      expect((await broker.request('5', { channel: `${base}.rpc`, timeout: 3000 })).body).toBe('re:5');

      const ours = (await Promise.all(ports.map(clients))).flat().filter((line) => line.includes(` name=${clientName} `));
      expect(ours.length).toBeGreaterThanOrEqual(4);
      for (const line of ours) expect(line).toContain(` user=${user} `);
    } finally {
      await broker.close();
    }
  });

  it('fails with a clear error on a wrong password', async () => {
    const broker = make(url.replace(password, 'wrong'), { logger: null, tls: { ca }, retryStrategy: () => null });
    const error = await broker.connect().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotConnectedError);
    expect((error as Error).message).toMatch(/WRONGPASS|invalid username-password/);
    await broker.close();
  });
});

describe.each(targets.filter((target) => target.name === 'sentinel'))('TLS and ACL on the sentinels ($name project)', () => {
  it('fails with a clear error naming the sentinels, not the secret, on a wrong sentinel password', async () => {
    const broker = new RedisSentinelBroker(`rediss://${user}:${password}@sentinel-master/0`, {
      logger: null,
      tls: { ca },
      retryStrategy: () => null,
      ...secureSentinel('not-the-sentinel-secret'),
    });
    const error = await broker.connect().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotConnectedError);
    expect((error as Error).message).toContain('127.0.0.1:26420');
    expect((error as Error).message).toMatch(/WRONGPASS|invalid username-password/);
    for (const secret of ['not-the-sentinel-secret', password]) expect(`${(error as Error).message} ${(error as Error).stack}`).not.toContain(secret);
    await broker.close();
  });
});
