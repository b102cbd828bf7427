import { describe, expect, it } from 'vitest';
import { ListSub, OptionError, PubSub, RedisBroker, RedisRouter, RedisSentinelBroker, SetupError, StreamSub } from '../../src/index.js';
import { TestRedisBroker } from '../../src/testing/index.js';
import { resolveConnection } from '../../src/redis/options.js';

const broker = () => new RedisBroker({ logger: null });

describe('wrong options fail at registration, naming the option', () => {
  it.each([
    ['StreamSub group without consumer', () => new StreamSub('s', { group: 'g' }), /`consumer`/],
    ['StreamSub maxRecords 0', () => new StreamSub('s', { maxRecords: 0 }), /Expected `maxRecords` to be an integer from 1 and up, got 0/],
    ['StreamSub bad lastId', () => new StreamSub('s', { lastId: 'yesterday' }), /Expected `lastId` to be a stream ID/],
    ['StreamSub minIdleTime without group', () => new StreamSub('s', { minIdleTime: 1000 }), /`minIdleTime`/],
    ['StreamSub unknown option', () => new StreamSub('s', { grup: 'g' } as never), /Unknown option `grup` for StreamSub/],
    ['ListSub pollingInterval', () => new ListSub('l', { pollingInterval: -1 }), /`pollingInterval`/],
    ['ListSub batch not boolean', () => new ListSub('l', { batch: 'yes' as never }), /`batch` to be true or false, got "yes"/],
    ['StreamSub dedicatedConnection not boolean', () => new StreamSub('s', { dedicatedConnection: 'yes' as never }), /`dedicatedConnection` to be true or false, got "yes"/],
    ['ListSub dedicatedConnection not boolean', () => new ListSub('l', { dedicatedConnection: 1 as never }), /`dedicatedConnection` to be true or false/],
    ['foreignPollInterval 0', () => new RedisBroker({ foreignPollInterval: 0, logger: null }), /`foreignPollInterval` to be an integer from 1 and up, got 0/],
    ['PubSub sharded pattern', () => new PubSub('a.*', { sharded: true }), /`sharded`/],
    ['empty channel name', () => new PubSub(''), /`channel` to be a non-empty string/],
    ['two sources', () => broker().subscriber({ channel: 'a', list: 'b' } as never, () => undefined), /exactly one of `channel`, `list` or `stream`, got `channel` and `list`/],
    ['no source', () => broker().subscriber({} as never, () => undefined), /none was given/],
    ['handler not a function', () => broker().subscriber('a', {}, 'not a function' as never), /`handler`/],
    ['schema not a schema', () => broker().subscriber('a', { schema: {} as never }, () => undefined), /`schema` to be a Standard Schema/],
    ['ackPolicy on a channel', () => broker().subscriber('a', { ackPolicy: 'ack' }, () => undefined), /`ackPolicy`.*only stream subscribers with a group/],
    ['ackPolicy unknown', () => broker().subscriber(new StreamSub('s', { group: 'g', consumer: 'c' }), { ackPolicy: 'sometimes' as never }, () => undefined), /`ackPolicy` to be one of/],
    ['unknown subscriber option', () => broker().subscriber('a', { retries: 3 } as never, () => undefined), /Unknown option `retries`/],
    ['unknown broker option', () => new RedisBroker({ hostt: 'x' } as never), /Unknown option `hostt` for the broker/],
    ['bad url', () => new RedisBroker('http://localhost'), /`url` to be a redis:\/\/ or rediss:\/\/ URL/],
    ['bad port', () => new RedisBroker({ port: 0, logger: null }), /`port`/],
    ['router prefix', () => new RedisRouter({ prefix: 3 as never }), /`prefix` to be a string/],
    ['Sentinel without sentinels', () => new RedisSentinelBroker({ sentinelMasterName: 'm' } as never), /`sentinels` to be a non-empty array.*required for RedisSentinelBroker/],
    ['Sentinel with no sentinel', () => new RedisSentinelBroker('redis://x', { sentinels: [], sentinelMasterName: 'm' }), /`sentinels` to be a non-empty array/],
    ['Sentinel with a bad sentinel', () => new RedisSentinelBroker('redis://x', { sentinels: [['h', 0]], sentinelMasterName: 'm' }), /`sentinels\[0\]` to be a \[host, port\] pair/],
    ['Sentinel without a master name', () => new RedisSentinelBroker('redis://x', { sentinels: [['h', 26379]] } as never), /`sentinelMasterName`.*required for RedisSentinelBroker/],
    ['Sentinel with an empty master name', () => new RedisSentinelBroker('redis://x', { sentinels: [['h', 26379]], sentinelMasterName: '' }), /`sentinelMasterName`/],
    ['Sentinel option unknown', () => new RedisSentinelBroker('redis://x', { sentinels: [['h', 1]], sentinelMasterName: 'm', sentinelOptions: { pass: 'x' } as never }), /Unknown option `pass` for sentinelOptions/],
    ['Sentinel option on RedisBroker', () => new RedisBroker({ sentinels: [['h', 1]] } as never), /Unknown option `sentinels` for the broker/],
  ])('%s', (_name, make, message) => {
    let error: unknown;
    try {
      make();
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SetupError);
    expect((error as Error).message).toMatch(message);
  });

  it('reports the option and value on OptionError', () => {
    const error = (() => {
      try {
        new StreamSub('s', { maxlen: 1.5 });
      } catch (e) {
        return e as OptionError;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(OptionError);
    expect(error?.option).toBe('maxlen');
    expect(error?.value).toBe(1.5);
    expect(error?.code).toBe('ERR_REDSTREAM_OPTION');
  });

  it('refuses two destinations at compile time, naming the rule, and at run time', async () => {
    const b = broker();
    // @ts-expect-error Type 'string' is not assignable to type 'OnlyOneOfChannelListOrStream'.
    await expect(b.publish('x', { list: 'a', stream: 'b' })).rejects.toThrow(/exactly one of `channel`, `list` or `stream`, got `list` and `stream`/);
    // @ts-expect-error a subscriber too
    expect(() => b.subscriber({ channel: 'a', list: 'b' }, () => undefined)).toThrow(/exactly one of/);
    await b.close();
  });

  it('refuses publish options that do not exist or do not apply', async () => {
    const b = broker();
    await expect(b.publish(1, { list: 'l', maxln: 3 } as never)).rejects.toThrow(/Unknown option `maxln`/);
    await expect(b.publish(1, { list: 'l', maxlen: 3 } as never)).rejects.toThrow(/`maxlen`.*streams only/);
    await expect(b.publish(1, { channel: new PubSub('a.*') })).rejects.toThrow(/not a pattern/);
    await expect(b.publishBatch([1], { channel: 'c' } as never)).rejects.toThrow(/`list`/);
    await b.close();
  });
});

describe('connection options', () => {
  it('reads the URL and lets explicit options win', () => {
    const fromUrl = resolveConnection('rediss://user:p%40ss@cache.internal:6390/3', {});
    expect(fromUrl).toMatchObject({ host: 'cache.internal', port: 6390, db: 3, username: 'user', password: 'p@ss', tls: {} });
    const explicit = resolveConnection('redis://a:1/1', { host: 'b', port: 2, db: 4, password: 'x', tls: false });
    expect(explicit).toMatchObject({ host: 'b', port: 2, db: 4, password: 'x', tls: undefined });
    expect(resolveConnection(undefined, {})).toMatchObject({ host: 'localhost', port: 6379, db: 0 });
  });
});

describe('RedisSentinelBroker', () => {
  it('runs under TestRedisBroker like any broker', async () => {
    const broker = new RedisSentinelBroker('redis://:secret@ignored/0', { sentinels: [['127.0.0.1', 1]], sentinelMasterName: 'm', logger: null });
    const handler = broker.subscriber({ list: 'jobs' }, (body: string) => body.toUpperCase());
    await using tb = new TestRedisBroker(broker);
    await tb.start();
    await broker.publish('a', { list: 'jobs' });
    expect((await tb.spy(handler).waitCall()).body).toBe('a');
  });

  it('describes the sentinels as its servers, without a secret', () => {
    const broker = new RedisSentinelBroker('redis://:secret@ignored/2', {
      sentinels: [['10.0.0.1', 26379], ['10.0.0.2', 26380]],
      sentinelMasterName: 'm',
      sentinelOptions: { password: 'sentinel-secret' },
      logger: null,
    });
    const { server } = broker.describe();
    expect(server).toEqual({ topology: 'sentinel', host: '10.0.0.1', port: 26379, tls: false, db: 2, nodes: ['10.0.0.1:26379', '10.0.0.2:26380'] });
    expect(JSON.stringify(server)).not.toMatch(/secret/);
  });
});
