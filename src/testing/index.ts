/**
 * `redstream/testing`: the in-memory TestRedisBroker lands here (see the TestRedisBroker issue).
 * @packageDocumentation
 */
export {};
