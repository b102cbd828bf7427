import type { Logger } from './logger.js';

/**
 * What handlers and middlewares reach through `msg.context`: the broker's logger, the broker
 * itself, and the values given in the broker's `context` option. Declare your values' types by
 * merging into this interface; the broker's `context` option then requires them.
 *
 * @example
 * declare module 'redstream' {
 *   interface Context { readonly db: Pool }
 * }
 * const broker = new RedisBroker(url, { context: { db: pool } });
 * broker.subscriber({ list: 'jobs' }, async (job, msg) => msg.context.db.query(job));
 */
export interface Context {
  /** The broker's logger. */
  readonly logger: Logger;
}

/** The part of the context the application provides (the broker's `context` option). */
export type UserContext = Omit<Context, 'logger' | 'broker'>;
