import { describe, expect, it } from 'vitest';
import { sameSlot, slotOf, withHashTag } from '../../src/index.js';

describe('hash slots', () => {
  it('match what Redis Cluster computes (CLUSTER KEYSLOT)', () => {
    // Values from the cluster specification and redis-cli CLUSTER KEYSLOT.
    expect(slotOf('123456789')).toBe(12739);
    expect(slotOf('foo')).toBe(12182);
    expect(slotOf('{user1000}.following')).toBe(3443);
    expect(slotOf('foo{}{bar}')).toBe(8363);
    expect(slotOf('foo{{bar}}zap')).toBe(4015);
    expect(slotOf('orders')).toBe(105);
    expect(slotOf('orders:dlq')).toBe(9954);
    // Non-ASCII keys hash their UTF-8 bytes.
    expect(slotOf('zamówienia')).toBe(1676);
    expect(slotOf('注文:{ü}')).toBe(9552);
  });

  it('build names that share a slot', () => {
    expect(withHashTag('orders')).toBe('{orders}');
    expect(withHashTag('orders', 'dlq')).toBe('{orders}:dlq');
    expect(withHashTag('{orders}', 'dlq')).toBe('{orders}:dlq');
    expect(withHashTag('tenant:{42}:orders', 'dlq')).toBe('tenant:{42}:orders:dlq');
    expect(sameSlot(withHashTag('orders'), withHashTag('orders', 'dlq'))).toBe(true);
    expect(sameSlot('orders', 'orders:dlq')).toBe(false);
  });
});
