/** TestRedisBroker against real Redis (the in-memory runs need none: test/unit/test-broker.test.ts). */
import { describe, expect, it } from 'vitest';
import { RedisBroker } from '../../src/index.js';
import { TestRedisBroker } from '../../src/testing/index.js';
import { SINGLE_URL, uid } from '../helpers/redis.js';

describe('TestRedisBroker', () => {
  it('keeps the spies but uses the real Redis with withReal', async () => {
    const broker = new RedisBroker(SINGLE_URL, { logger: null });
    const list = uid('with-real');
    const sub = broker.subscriber({ list }, () => undefined);
    await using tb = new TestRedisBroker(broker, { withReal: true });
    expect(tb.redis).toBeUndefined();
    await tb.start();
    await broker.publish('real', { list });
    expect((await tb.spy(sub).waitCall()).body).toBe('real');
  });
});
