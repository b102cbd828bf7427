/**
 * redstream: event-driven services on Redis, wire-compatible with FastStream.
 * @packageDocumentation
 */
export { RedisBroker } from './redis/broker.js';
export type { RequestOptions } from './redis/rpc.js';
export { RedisClusterBroker, type RedisClusterBrokerOptions } from './redis/cluster-broker.js';
export { RedisSentinelBroker, type RedisSentinelBrokerOptions, type SentinelOptions } from './redis/sentinel-broker.js';
export { RedisRouter, type RedisRouterOptions } from './redis/router.js';
export { PubSub, ListSub, StreamSub, type PubSubOptions, type ListSubOptions, type StreamSubOptions, type Source } from './redis/sources.js';
export {
  RedisSubscriber,
  RedisPublisher,
  type SubscriberOptions,
  type PublisherOptions,
} from './redis/registration.js';
export type { PublishResult, PublishOptions } from './redis/producer/producer.js';
export { RedisPipeline, PipelineError, type PipelineOptions } from './redis/pipeline.js';
export { DeadLetterHeader, type DeadLetterReason } from './redis/producer/dead-letter.js';
export type { RedisBrokerOptions, RedisConnectionOptions } from './redis/options.js';
export type { BrokerDescription, SubscriberDescription, PublisherDescription, ServerDescription } from './redis/description.js';
export { slotOf, sameSlot, withHashTag, hashedPart, partitionKey, partitionOf } from './redis/hashtag.js';
export type { Target, ChannelTarget, ListTarget, StreamTarget, SourceInput, Destination } from './redis/targets.js';

export { App, type AppOptions, type AppBroker, type Hook } from './core/app.js';
export { AckPolicy } from './core/ack.js';
export type { Context, UserContext } from './core/context.js';
export { Message, AckStatus, type MessageSource, type Settler } from './core/message.js';
export { Response, type ResponseInit } from './core/response.js';
export type { Handler, UncheckedHandler, ConsumeOutcome } from './core/consume.js';
export {
  SettleStatus,
  type Middleware,
  type MiddlewareFactory,
  type MiddlewareLike,
  type MiddlewareContext,
  type PublishCommand,
  type Settlement,
  type SubscriberInfo,
} from './core/middleware.js';
export type { IncludeOptions, RegistryOptions } from './core/registry.js';
export { BrokerState } from './core/lifecycle.js';
export { consoleLogger, silentLogger, type Logger, type LogLevel } from './core/logger.js';
export type { StandardSchemaV1, InferOutput } from './core/schema.js';
export {
  RedstreamError,
  ErrorCode,
  SetupError,
  OptionError,
  NotConnectedError,
  BrokerClosedError,
  EncodeError,
  DecodeError,
  ValidationError,
  RequestTimeoutError,
  GroupNotFoundError,
  ControlFlowError,
  AckMessage,
  NackMessage,
  RejectMessage,
  SkipMessage,
  StopConsume,
  type ValidationIssue,
} from './core/errors.js';
