/**
 * `redstream/testing`: test a service without Redis. TestRedisBroker runs the service's own broker
 * against an in-memory Redis and puts a spy on every handler and publisher.
 * @packageDocumentation
 */
export { TestRedisBroker, type TestRedisBrokerOptions } from './test-broker.js';
export { Spy, type SpyCall } from './spy.js';
export { MemoryRedis } from './memory/redis.js';
