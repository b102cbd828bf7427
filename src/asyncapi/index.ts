/**
 * `redstream/asyncapi`: an AsyncAPI 3.0.0 document of what a broker (or app) registered, built
 * from `broker.describe()`, with FastStream's names and Redis bindings.
 * @packageDocumentation
 */
import type { BrokerDescription, PublisherDescription, SubscriberDescription } from '../redis/description.js';
import { SetupError } from '../core/errors.js';
import type { StandardSchemaV1 } from '../core/schema.js';

/** The document's `info`. */
export interface AsyncApiInfo {
  /** The service's name. */
  readonly title: string;
  /** The service's version (not AsyncAPI's). @defaultValue `'0.1.0'` */
  readonly version?: string;
  readonly description?: string;
}

/** Anything that can describe what it registered: a broker, or an App around one. */
export type Describable = { describe(): BrokerDescription } | { readonly broker: unknown };

/** An AsyncAPI document as a plain, JSON-serializable object. */
export type AsyncApiDocument = Record<string, unknown>;

const SERVER = 'development';

/**
 * The AsyncAPI 3.0.0 document of a broker or App: its server (host and database, never a
 * credential), a channel, an operation (`receive` for subscribers, `send` for publishers) and a
 * message per subscriber and publisher, with FastStream's Redis bindings and names. Payloads come
 * from the subscribers' and publishers' schemas where the schema library converts to JSON Schema
 * (zod 4, arktype: anything implementing Standard JSON Schema). `title`, `description` and
 * `includeInSchema: false` on subscribers, publishers and routers are honoured.
 *
 * @example
 * const doc = asyncapi(broker, { title: 'Billing', version: '1.2.0' });
 */
export function asyncapi(source: Describable, info: AsyncApiInfo): AsyncApiDocument {
  const description = describeSource(source);
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const messages: Record<string, unknown> = {};
  const schemas: Record<string, unknown> = {};
  for (const subscriber of description.subscribers) {
    if (!subscriber.includeInSchema) continue;
    const key = uniqueKey(channels, subscriber.title ?? `${subscriber.name}:${handlerName(subscriber)}`);
    addChannel({ channels, operations, messages, schemas }, key, {
      address: subscriber.name,
      description: subscriber.description,
      schema: subscriber.schema,
      bindings: subscriberBindings(subscriber),
      action: 'receive',
      operation: `${key}Subscribe`,
    });
  }
  for (const publisher of description.publishers) {
    if (!publisher.includeInSchema) continue;
    const key = uniqueKey(channels, publisher.title ?? `${publisher.name}:Publisher`);
    addChannel({ channels, operations, messages, schemas }, key, {
      address: publisher.name,
      description: publisher.description,
      schema: publisher.schema,
      bindings: publisherBindings(publisher),
      action: 'send',
      operation: key,
    });
  }
  const { server } = description;
  const doc: AsyncApiDocument = {
    asyncapi: '3.0.0',
    info: { title: info.title, version: info.version ?? '0.1.0', ...(info.description ?? description.description ? { description: info.description ?? description.description } : {}) },
    defaultContentType: 'application/json',
    servers: {
      [SERVER]: {
        host: `${server.host}:${server.port}`,
        pathname: server.topology === 'cluster' ? '' : `/${server.db}`,
        protocol: server.tls ? 'rediss' : 'redis',
        protocolVersion: 'custom',
        description: serverDescription(server),
      },
    },
    channels,
    operations,
    components: { messages, schemas },
  };
  return doc;
}

interface Sections {
  readonly channels: Record<string, unknown>;
  readonly operations: Record<string, unknown>;
  readonly messages: Record<string, unknown>;
  readonly schemas: Record<string, unknown>;
}

interface ChannelSpec {
  readonly address: string;
  readonly description: string | undefined;
  readonly schema: StandardSchemaV1 | undefined;
  readonly bindings: Record<string, unknown>;
  readonly action: 'receive' | 'send';
  readonly operation: string;
}

function addChannel(sections: Sections, key: string, spec: ChannelSpec): void {
  const id = componentId(key);
  const messageName = `${id}:Message`;
  const messageId = componentId(messageName);
  const payloadId = componentId(`${messageName}:Payload`);
  sections.schemas[payloadId] = payloadOf(spec.schema);
  sections.messages[messageId] = {
    name: messageName,
    title: messageName,
    correlationId: { location: '$message.header#/correlation_id' },
    payload: { $ref: `#/components/schemas/${payloadId}` },
  };
  const parameters = Object.fromEntries([...spec.address.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((match) => [match[1]!, {}]));
  sections.channels[id] = {
    address: spec.address,
    title: key,
    ...(spec.description ? { description: spec.description } : {}),
    servers: [{ $ref: `#/servers/${SERVER}` }],
    messages: { [messageId]: { $ref: `#/components/messages/${messageId}` } },
    ...(Object.keys(parameters).length > 0 ? { parameters } : {}),
    bindings: { redis: { ...spec.bindings, bindingVersion: 'custom' } },
  };
  sections.operations[componentId(spec.operation)] = {
    action: spec.action,
    channel: { $ref: `#/channels/${id}` },
    messages: [{ $ref: `#/channels/${id}/messages/${messageId}` }],
  };
}

function subscriberBindings(subscriber: SubscriberDescription): Record<string, unknown> {
  const { source } = subscriber;
  if (source.kind === 'channel') return { channel: subscriber.name, method: source.pattern ? 'psubscribe' : source.sharded ? 'ssubscribe' : 'subscribe' };
  if (source.kind === 'list') return { channel: subscriber.name, method: 'lpop' };
  // A partitioned stream: its keys are `{name:0}` … `{name:N-1}` (see partitionKey()).
  const partitions = source.partitions === undefined ? {} : { partitions: source.partitions };
  if (subscriber.group === undefined) return { channel: subscriber.name, method: 'xread', ...partitions };
  return { channel: subscriber.name, method: 'xreadgroup', groupName: subscriber.group, consumerName: subscriber.consumer, ...partitions };
}

function publisherBindings(publisher: PublisherDescription): Record<string, unknown> {
  const method = { channel: 'publish', sharded: 'spublish', list: 'rpush', stream: 'xadd' }[publisher.kind];
  const { partitions } = publisher.destination;
  return { channel: publisher.name, method, ...(partitions === undefined ? {} : { partitions }) };
}

/** FastStream names a subscriber's channel after its handler, in CamelCase. */
function handlerName(subscriber: SubscriberDescription): string {
  const name = subscriber.subscriber.handler.name.replace(/^bound /, '');
  if (!name) return 'Handler';
  return name.replace(/(^|[_\-\s]+)([a-zA-Z0-9])/g, (_match, _sep: string, letter: string) => letter.toUpperCase());
}

/** AsyncAPI component and channel ids take letters, digits, `.`, `-` and `_`. */
function componentId(name: string): string {
  return name.replace(/[^A-Za-z0-9.\-_]/g, '_');
}

function uniqueKey(taken: Record<string, unknown>, key: string): string {
  if (!(componentId(key) in taken)) return key;
  for (let i = 2; ; i += 1) if (!(componentId(`${key}${i}`) in taken)) return `${key}${i}`;
}

/** A JSON Schema from a Standard Schema that can convert itself (Standard JSON Schema), else any payload. */
function payloadOf(schema: StandardSchemaV1 | undefined): Record<string, unknown> {
  if (!schema) return {};
  const standard = schema['~standard'] as StandardSchemaV1['~standard'] & { jsonSchema?: { output?: (options: { target: string }) => unknown } };
  const convert = standard.jsonSchema?.output;
  if (typeof convert === 'function') {
    try {
      const { $schema: _dialect, ...json } = convert({ target: 'draft-07' }) as Record<string, unknown>;
      return json;
    } catch {
      // Some schemas (transforms, custom checks) have no JSON Schema; the payload is then left open.
    }
  }
  return { description: `A ${standard.vendor} schema (no JSON Schema conversion available).` };
}

function serverDescription(server: BrokerDescription['server']): string {
  if (server.topology === 'cluster') return `Redis Cluster; seed nodes ${server.nodes.join(', ')}`;
  if (server.topology === 'sentinel') return `Redis Sentinel; sentinels ${server.nodes.join(', ')}`;
  return 'Redis';
}

function describeSource(source: Describable): BrokerDescription {
  if ('describe' in source && typeof source.describe === 'function') return source.describe();
  const broker = 'broker' in source ? source.broker : undefined;
  if (broker && typeof (broker as { describe?: unknown }).describe === 'function') return (broker as { describe(): BrokerDescription }).describe();
  throw new SetupError('asyncapi() takes a redstream broker, or an App around one.');
}
