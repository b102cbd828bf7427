/**
 * How to test a redstream service without Redis: TestRedisBroker runs the service's own broker in
 * memory. The broker points at a port where nothing listens, to prove no socket is used.
 */
import { describe, expect, it } from 'vitest';
import { TestRedisBroker } from '../../src/testing/index.js';
import { createBillingService } from './service.js';

const NOTHING_LISTENS_HERE = 'redis://127.0.0.1:1';

describe('billing service (in memory)', () => {
  it('bills an order and publishes the invoice', async () => {
    const { broker, billOrder, invoices } = createBillingService(NOTHING_LISTENS_HERE);
    await using tb = new TestRedisBroker(broker);
    await tb.start();

    await broker.publish({ id: 'o-1', qty: 3, price: 2.5 }, { stream: 'billing:orders' });

    const call = await tb.spy(billOrder).waitCall();
    expect(call.body).toEqual({ id: 'o-1', qty: 3, price: 2.5 });
    expect((await tb.spy(invoices).waitCall()).body).toEqual({ order: 'o-1', amount: 7.5 });
    // The invoice really went to the (in-memory) stream.
    expect(tb.redis!.execute('XLEN', ['billing:invoices'])).toBe(1);
  });

  it('answers a request', async () => {
    const { broker } = createBillingService(NOTHING_LISTENS_HERE);
    await using tb = new TestRedisBroker(broker);
    await tb.start();
    const reply = await broker.request({ id: 'q', qty: 2, price: 10 }, { channel: 'billing.quote', timeout: 1000 });
    expect(reply.body).toEqual({ total: 20 });
  });

  it('leaves an invalid order pending (nackOnError, the default), as it would on Redis', async () => {
    const { broker, billOrder } = createBillingService(NOTHING_LISTENS_HERE);
    await using tb = new TestRedisBroker(broker);
    await tb.start();
    await broker.publish({ id: 'o-2', qty: -1, price: 1 }, { stream: 'billing:orders' });
    // The schema refused it, so the handler never ran; the default policy leaves it pending (nack).
    const pending = async (): Promise<number> => ((await tb.redis!.execute('XPENDING', ['billing:orders', 'billing'])) as [number])[0];
    await expect.poll(pending).toBe(1);
    expect(tb.spy(billOrder).called).toBe(false);
  });
});
