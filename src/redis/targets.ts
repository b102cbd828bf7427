/**
 * The shapes the API accepts for "where": a channel name, a source instance, or exactly one of
 * `{ channel } | { list } | { stream }`. Two at once fail to compile and fail at run time.
 */
import { OptionError, SetupError, describe } from '../core/errors.js';
import { ListSub, PubSub, StreamSub, type Source } from './sources.js';

/**
 * What the compiler names when a second destination is given: a publish or subscriber takes
 * exactly one of `channel`, `list` or `stream`. No value has this type.
 */
export interface OnlyOneOfChannelListOrStream {
  readonly 'a publish or subscriber takes exactly one of channel, list or stream': never;
}
/** A channel, by name or as a {@link PubSub}. */
export type ChannelTarget = { readonly channel: string | PubSub; readonly list?: OnlyOneOfChannelListOrStream; readonly stream?: OnlyOneOfChannelListOrStream };
/** A list, by name or as a {@link ListSub}. */
export type ListTarget = { readonly list: string | ListSub<boolean>; readonly channel?: OnlyOneOfChannelListOrStream; readonly stream?: OnlyOneOfChannelListOrStream };
/** A stream, by name or as a {@link StreamSub}. */
export type StreamTarget = { readonly stream: string | StreamSub<boolean>; readonly channel?: OnlyOneOfChannelListOrStream; readonly list?: OnlyOneOfChannelListOrStream };
/** Exactly one of `channel`, `list`, `stream`. */
export type Target = ChannelTarget | ListTarget | StreamTarget;

/** What `broker.subscriber()` accepts as its first argument. */
export type SourceInput = string | Source | Target;

/** Whether a source delivers batches (arrays of bodies). */
export type IsBatch<S> = S extends ListSub<true> | StreamSub<true>
  ? true
  : S extends { readonly list: ListSub<true> } | { readonly stream: StreamSub<true> }
    ? true
    : false;

/** The handler's body type for a source, given the type of one item. */
export type BodyFor<S, Item> = IsBatch<S> extends true ? Item[] : Item;

/** Turns any accepted source shape into a source instance. */
export function toSource(input: SourceInput): Source {
  if (typeof input === 'string') return new PubSub(input);
  if (input instanceof PubSub || input instanceof ListSub || input instanceof StreamSub) return input;
  const key = pickKey(input, 'subscriber');
  const value = (input as Record<string, unknown>)[key];
  if (key === 'channel') return value instanceof PubSub ? value : new PubSub(value as string);
  if (key === 'list') return value instanceof ListSub ? value : new ListSub(value as string);
  return value instanceof StreamSub ? value : new StreamSub(value as string);
}

/** A publish destination, resolved. */
export interface Destination {
  readonly kind: 'channel' | 'list' | 'stream';
  readonly name: string;
  readonly sharded: boolean;
  /** Stream trimming from the StreamSub, when the destination is one. */
  readonly maxlen: number | undefined;
  /** How many partitions the stream is spread over (a partitioned StreamSub); the publish picks one. */
  readonly partitions?: number | undefined;
}

/** Turns any accepted destination shape into a {@link Destination}. */
export function toDestination(input: string | Target | Source): Destination {
  if (typeof input === 'string') return { kind: 'channel', name: checkName('channel', input), sharded: false, maxlen: undefined };
  if (input instanceof PubSub) {
    if (input.pattern) throw new OptionError('channel', input.name, 'a plain channel name to publish to, not a pattern');
    return { kind: 'channel', name: input.name, sharded: input.sharded, maxlen: undefined };
  }
  if (input instanceof ListSub) return { kind: 'list', name: input.name, sharded: false, maxlen: undefined };
  if (input instanceof StreamSub) return { kind: 'stream', name: input.name, sharded: false, maxlen: input.maxlen, partitions: input.partitions };
  const key = pickKey(input, 'publish');
  const value = (input as Record<string, unknown>)[key];
  if (typeof value === 'string') return { kind: key, name: checkName(key, value), sharded: false, maxlen: undefined };
  if (key === 'channel' && value instanceof PubSub) return toDestination(value);
  if (key === 'list' && value instanceof ListSub) return toDestination(value);
  if (key === 'stream' && value instanceof StreamSub) return toDestination(value);
  throw new OptionError(key, value, `a name or a ${{ channel: 'PubSub', list: 'ListSub', stream: 'StreamSub' }[key]}`);
}

const KINDS = ['channel', 'list', 'stream'] as const;

function pickKey(input: object, what: string): (typeof KINDS)[number] {
  if (typeof input !== 'object' || input === null) {
    throw new SetupError(`A ${what} needs a channel name or { channel | list | stream }, got ${describe(input)}.`);
  }
  const record = input as Record<string, unknown>;
  let found: (typeof KINDS)[number] | undefined;
  let count = 0;
  for (const key of KINDS) {
    if (record[key] !== undefined) {
      found = key;
      count += 1;
    }
  }
  if (count === 1) return found!;
  const given = KINDS.filter((key) => record[key] !== undefined);
  if (given.length === 0) throw new SetupError(`A ${what} needs exactly one of \`channel\`, \`list\` or \`stream\`; none was given.`);
  if (given.length > 1) {
    throw new SetupError(`A ${what} takes exactly one of \`channel\`, \`list\` or \`stream\`, got ${given.map((k) => `\`${k}\``).join(' and ')}.`);
  }
  return given[0]!;
}

function checkName(option: string, name: string): string {
  if (name.length === 0) throw new OptionError(option, name, 'a non-empty name');
  return name;
}

/**
 * The options part of `{ channel | list | stream, ...options }`, each name checked against
 * `known`; undefined values are left out.
 */
export function splitOptions<Options extends object>(input: object, known: readonly string[]): Options {
  const options: Record<string, unknown> = {};
  const record = input as Record<string, unknown>;
  for (const key in record) {
    if (key === 'channel' || key === 'list' || key === 'stream') continue;
    if (!known.includes(key)) throw new SetupError(`Unknown option \`${key}\`. Known options: channel, list, stream, ${known.join(', ')}.`);
    if (record[key] !== undefined) options[key] = record[key];
  }
  return options as Options;
}
