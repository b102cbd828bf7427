/**
 * The broker's description of everything it (and every router it includes) registered: full names
 * with prefixes, kinds, groups, schemas, publishers, documentation fields. Starting subscribers,
 * AsyncAPI documents and metric labels all read this one description.
 */
import { AckPolicy } from '../core/ack.js';
import type { MiddlewareLike, SubscriberInfo } from '../core/middleware.js';
import type { Resolved } from '../core/registry.js';
import type { StandardSchemaV1 } from '../core/schema.js';
import type { RedisPublisher, RedisSubscriber } from './registration.js';
import type { Source } from './sources.js';
import type { Destination } from './targets.js';

/** One registered subscriber, resolved through the routers that include it. */
export interface SubscriberDescription extends SubscriberInfo {
  /** What it reads, with every prefix applied. */
  readonly source: Source;
  /** The consumer name within `group`. */
  readonly consumer: string | undefined;
  readonly schema: StandardSchemaV1 | undefined;
  /** The ack policy in effect (it matters for stream groups; channel and list messages are gone once read). */
  readonly ackPolicy: AckPolicy;
  readonly maxWorkers: number;
  readonly noReply: boolean;
  readonly title: string | undefined;
  readonly description: string | undefined;
  /** False when the subscriber or a router on its way says `includeInSchema: false`. */
  readonly includeInSchema: boolean;
  /** The publishers that receive its handler's return value. */
  readonly publishers: readonly PublisherDescription[];
  /** Every middleware that runs for it, outermost first: broker, routers, the subscriber's own. */
  readonly middlewares: readonly MiddlewareLike[];
  /** The registered object. */
  readonly subscriber: RedisSubscriber;
}

/** One publisher object, resolved through the routers that include it. */
export interface PublisherDescription {
  /** Where it publishes, with every prefix applied. */
  readonly name: string;
  /** `channel`, `sharded` (SPUBLISH), `list` or `stream`. */
  readonly kind: 'channel' | 'sharded' | 'list' | 'stream';
  readonly destination: Destination;
  readonly schema: StandardSchemaV1 | undefined;
  readonly title: string | undefined;
  readonly description: string | undefined;
  readonly includeInSchema: boolean;
  /** The registered object. */
  readonly publisher: RedisPublisher;
}

/** Where the broker connects, without credentials. */
export interface ServerDescription {
  /** `single`, `cluster` or `sentinel` (the broker's topology). */
  readonly topology: string;
  /** Host of the first seed: the node, a cluster's first seed, or the first sentinel. */
  readonly host: string;
  readonly port: number;
  /** Whether the connections to Redis (to the master, with Sentinel) use TLS. */
  readonly tls: boolean;
  readonly db: number;
  /** Every seed address, `host:port`: the URL's (then `startupNodes`) for a node or cluster, the sentinels for Sentinel. */
  readonly nodes: readonly string[];
}

/** Everything a broker registered, as `broker.describe()` returns it. */
export interface BrokerDescription {
  readonly server: ServerDescription;
  /** The broker's `description` option. */
  readonly description: string | undefined;
  readonly subscribers: readonly SubscriberDescription[];
  readonly publishers: readonly PublisherDescription[];
}

/** Describes a publisher as it is bound now (its destination carries its routers' prefixes). */
export function describePublisher(publisher: RedisPublisher, includeInSchema = true): PublisherDescription {
  const destination = publisher.destination;
  const { options } = publisher;
  return {
    name: destination.name,
    kind: destination.kind === 'channel' && destination.sharded ? 'sharded' : destination.kind,
    destination,
    schema: options.schema,
    title: options.title,
    description: options.description,
    includeInSchema: includeInSchema && options.includeInSchema !== false,
    publisher,
  };
}

/** Describes a subscriber with what its routers add; `publishers` describes its publishers. */
export function describeSubscriber(resolved: Resolved<RedisSubscriber>, publishers: (publisher: RedisPublisher) => PublisherDescription): SubscriberDescription {
  const { item: subscriber } = resolved;
  const { options } = subscriber;
  const source = subscriber.source.withPrefix(resolved.prefix);
  return {
    name: source.name,
    kind: kindOf(source),
    group: source.kind === 'stream' ? source.group : undefined,
    consumer: source.kind === 'stream' ? source.consumer : undefined,
    batch: source.kind === 'channel' ? false : source.batch,
    source,
    schema: options.schema,
    ackPolicy: options.ackPolicy ?? resolved.ackPolicy ?? AckPolicy.NACK_ON_ERROR,
    maxWorkers: options.maxWorkers ?? 1,
    noReply: options.noReply ?? false,
    title: options.title,
    description: options.description,
    includeInSchema: resolved.includeInSchema && options.includeInSchema !== false,
    publishers: (options.publishers ?? []).map(publishers),
    middlewares: [...resolved.middlewares, ...(options.middlewares ?? [])],
    subscriber,
  };
}

function kindOf(source: Source): SubscriberInfo['kind'] {
  if (source.kind !== 'channel') return source.kind;
  return source.sharded ? 'sharded' : source.pattern ? 'pattern' : 'channel';
}
