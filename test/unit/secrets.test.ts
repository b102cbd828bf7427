import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { NotConnectedError, RedisBroker, RedisClusterBroker, RedisSentinelBroker } from '../../src/index.js';

const SECRET = 'pa55-s3cret';

// Brokers whose URL and options carry passwords; the nodes they name are closed ports.
const brokers = {
  single: () => new RedisBroker(`redis://app:${SECRET}@127.0.0.1:1/0`, { logger: null, retryStrategy: () => null, socketConnectTimeout: 500 }),
  cluster: () => new RedisClusterBroker(`redis://app:${SECRET}@127.0.0.1:1`, { logger: null, retryStrategy: () => null, socketConnectTimeout: 500, password: SECRET }),
  sentinel: () =>
    new RedisSentinelBroker(`redis://app:${SECRET}@ignored/0`, {
      logger: null,
      retryStrategy: () => null,
      socketConnectTimeout: 500,
      sentinels: [['127.0.0.1', 1]],
      sentinelMasterName: 'm',
      sentinelOptions: { password: SECRET },
    }),
};

describe.each(Object.entries(brokers))('a password given to the %s broker', (_name, make) => {
  it('appears in neither JSON.stringify, util.inspect nor broker.describe()', () => {
    const broker = make();
    expect(JSON.stringify(broker)).not.toContain(SECRET);
    expect(inspect(broker, { depth: Infinity, showHidden: true, getters: true })).not.toContain(SECRET);
    expect(JSON.stringify(broker.describe())).not.toContain(SECRET);
  });

  it('appears in no connection error, its stack or its cause', async () => {
    const broker = make();
    const error = (await broker.connect().catch((e: unknown) => e)) as Error & { cause?: unknown };
    expect(error).toBeInstanceOf(NotConnectedError);
    expect(`${error.message}\n${error.stack}\n${inspect(error.cause, { depth: 5 })}`).not.toContain(SECRET);
    await broker.close();
  });
});
