/**
 * From a subscriber's description to the object that runs it: the consume pipeline's settings,
 * where its handler's return value goes (reply_to, publishers), and the reader for its kind.
 */
import type { ConsumerConfig } from '../../core/consume.js';
import type { Context } from '../../core/context.js';
import type { Logger } from '../../core/logger.js';
import type { Message } from '../../core/message.js';
import type { Middleware } from '../../core/middleware.js';
import type { Response } from '../../core/response.js';
import type { ConnectionStrategy } from '../connection/strategy.js';
import type { SubscriberDescription } from '../description.js';
import type { RedisProducer } from '../producer/producer.js';
import { SHARDED_REPLY } from '../rpc.js';
import { ChannelSubscriber } from './channel.js';
import type { PubSubHub } from './hub.js';
import { ListSubscriber } from './list.js';
import { PartitionedSubscriber } from './partitioned.js';
import type { RuntimeSubscriber } from './runtime.js';
import type { SharedReads } from './shared.js';
import { StreamSubscriber } from './stream.js';

/** What running subscribers share: the broker's strategy, producer, Pub/Sub connection and logger. */
export interface SubscriberDeps {
  readonly strategy: ConnectionStrategy;
  readonly producer: RedisProducer;
  readonly hub: PubSubHub;
  /** Shared reading of lists and streams; undefined where the strategy has none. */
  readonly shared: SharedReads | undefined;
  readonly logger: Logger;
  /** Stops this subscriber (its handler threw StopConsume). */
  readonly stopConsume: () => void;
  /** What its messages carry as `msg.context`. */
  readonly context: Context;
  /** How long a partition's in-flight messages may take to finish when it passes to another instance, in ms. */
  readonly gracefulTimeout: number;
}

/** Makes the running channel, list or stream subscriber for a described subscriber. */
export function buildSubscriber(described: SubscriberDescription, deps: SubscriberDeps): RuntimeSubscriber {
  const { source } = described;
  const config: ConsumerConfig = {
    name: source.name,
    subscriber: described,
    handler: described.subscriber.runnable(deps.logger),
    schema: described.schema,
    middlewares: described.middlewares,
    ackPolicy: described.ackPolicy,
    logger: deps.logger,
    emit: (response, message, middlewares) => emit(described, deps.producer, response, message, middlewares),
    stopConsume: deps.stopConsume,
    context: deps.context,
  };
  if (source.kind === 'channel') return new ChannelSubscriber(source, deps.hub, config, deps.logger, described.maxWorkers);
  const loop = { strategy: deps.strategy, producer: deps.producer, config, logger: deps.logger, maxWorkers: described.maxWorkers, shared: deps.shared };
  if (source.kind === 'list') return new ListSubscriber(source, loop);
  if (source.partitions !== undefined) return new PartitionedSubscriber(source, loop, deps.gracefulTimeout);
  return new StreamSubscriber(source, loop);
}

/** Sends a handler's result to `reply_to` (unless `noReply`) and to the subscriber's publishers. */
async function emit(described: SubscriberDescription, producer: RedisProducer, response: Response, message: Message, scope: readonly Middleware[]): Promise<void> {
  const correlationId = response.correlationId ?? message.correlationId;
  const { body, headers } = response;
  if (message.replyTo && !described.noReply) {
    const sharded = message.headers[SHARDED_REPLY] === '1';
    await producer.publish({
      type: 'reply',
      destination: { kind: 'channel', name: message.replyTo, sharded, maxlen: undefined },
      body,
      batch: false,
      options: { headers, correlationId },
      scope,
    });
  }
  for (const publisher of described.subscriber.options.publishers ?? []) {
    await publisher.send(body, { headers, correlationId }, scope);
  }
}
