/**
 * A billing service as a user would write it: the broker and its handlers, exported so that both
 * the process entry point and the tests use the same code.
 */
import { z } from 'zod';
import { RedisBroker, StreamSub } from '../../src/index.js';

export const Order = z.object({ id: z.string(), qty: z.number().int().positive(), price: z.number().nonnegative() });
export type Order = z.infer<typeof Order>;

export function createBillingService(url = process.env['REDIS_URL'] ?? 'redis://localhost:6379') {
  const broker = new RedisBroker(url, { logger: null });
  const invoices = broker.publisher({ stream: 'billing:invoices' });

  const billOrder = broker.subscriber(
    new StreamSub('billing:orders', { group: 'billing', consumer: 'billing-1', deadLetter: 'billing:orders:dead' }),
    { schema: Order, publishers: [invoices] },
    (order) => ({ order: order.id, amount: Math.round(order.qty * order.price * 100) / 100 }),
  );

  const quote = broker.subscriber('billing.quote', { schema: Order }, (order) => ({ total: order.qty * order.price }));

  return { broker, invoices, billOrder, quote };
}
