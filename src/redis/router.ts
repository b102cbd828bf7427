import type { RegistryOptions } from '../core/registry.js';
import { checkKeys } from './sources.js';
import { RedisRegistrator } from './registrator.js';

/** Options of `new RedisRouter()`: a prefix, middlewares, a default ack policy, `includeInSchema`. */
export type RedisRouterOptions = RegistryOptions;

/**
 * A group of subscribers and publishers with a shared prefix, middlewares and ack policy,
 * included into a broker (or another router) with `includeRouter()`.
 *
 * @example
 * const router = new RedisRouter({ prefix: 'billing.' });
 * router.subscriber({ stream: 'invoices' }, handle); // reads "billing.invoices"
 * broker.includeRouter(router);
 */
export class RedisRouter extends RedisRegistrator {
  constructor(options: RedisRouterOptions = {}) {
    checkKeys('RedisRouter', options, ['prefix', 'middlewares', 'ackPolicy', 'includeInSchema']);
    super(options);
  }
}
