/**
 * Stream consumer. Without a group: XREAD from the last entry that existed at start (so nothing
 * published between polls is missed). With a group: the consumer first drains its own pending
 * entries (`0`), then reads new ones (`>`), so a restart never strands unacknowledged entries.
 * Entries are acknowledged (XACK) only as the ack policy says, after the handler.
 */
import { parseWire, type WireMessage } from '../../core/codec/wire.js';
import { GroupNotFoundError, SetupError } from '../../core/errors.js';
import { Message, type Settler } from '../../core/message.js';
import type { BlockingConnection } from '../connection/strategy.js';
import type { StreamSub } from '../sources.js';
import { ReadLoop, type LoopDeps, type ReadFailure } from './runtime.js';

/** The field FastStream (and redstream) store the envelope in. */
export const DATA_FIELD = '__data__';

type RawEntry = [Buffer, Buffer[] | null];
type ReadReply = Array<[Buffer, RawEntry[]]> | null;

export class StreamSubscriber extends ReadLoop {
  readonly name: string;
  readonly #source: StreamSub<boolean>;
  readonly #group: { name: string; consumer: string } | undefined;
  /** Group mode: `0`-based cursor while draining the PEL, then `>`. Without a group: last ID read. */
  #cursor = '>';

  constructor(source: StreamSub<boolean>, deps: LoopDeps) {
    super(deps);
    this.#source = source;
    this.name = source.name;
    this.#group = source.group && source.consumer ? { name: source.group, consumer: source.consumer } : undefined;
  }

  protected get finishReadMessages(): boolean {
    // Unacknowledged group entries stay pending and are drained on restart; others would be lost.
    return this.#group === undefined || this.#source.noAck;
  }

  protected async prepare(): Promise<void> {
    if (this.#group) {
      await this.#createGroup();
      this.#cursor = '0';
    } else {
      this.#cursor = this.#source.lastId === '$' ? await this.#lastEntryId() : this.#source.lastId;
    }
  }

  protected async read(connection: BlockingConnection): Promise<Message[]> {
    const source = this.#source;
    const count = ['COUNT', source.maxRecords];
    const block = ['BLOCK', source.pollingInterval];
    let reply: ReadReply;
    if (this.#group) {
      const noAck = source.noAck ? ['NOACK'] : [];
      const args = ['GROUP', this.#group.name, this.#group.consumer, ...count, ...block, ...noAck, 'STREAMS', this.name, this.#cursor];
      reply = (await connection.send('XREADGROUP', args)) as ReadReply;
    } else {
      reply = (await connection.send('XREAD', [...count, ...block, 'STREAMS', this.name, this.#cursor])) as ReadReply;
    }
    const entries = reply?.[0]?.[1] ?? [];
    return this.#toMessages(entries);
  }

  protected override async onReadError(error: unknown): Promise<ReadFailure> {
    if (!this.#group || !(error instanceof Error) || !error.message.startsWith('NOGROUP')) return super.onReadError(error);
    if (!this.#source.declare) {
      const fatal = new GroupNotFoundError(this.name, this.#group.name, { cause: error });
      this.deps.logger.error({ subscriber: this.name, err: fatal }, fatal.message);
      return 'stop';
    }
    this.deps.logger.warn({ subscriber: this.name }, `Consumer group "${this.#group.name}" disappeared; recreating it.`);
    await this.#createGroup();
    this.#cursor = '0';
    return 'retry';
  }

  async #toMessages(entries: RawEntry[]): Promise<Message[]> {
    if (this.#group && this.#cursor !== '>') {
      // Draining our own pending entries: an empty answer means the PEL is done.
      if (entries.length === 0) this.#cursor = '>';
      else this.#cursor = String(entries[entries.length - 1]![0]);
      entries = await this.#dropDeleted(entries);
    } else if (!this.#group && entries.length > 0) {
      this.#cursor = String(entries[entries.length - 1]![0]);
    }
    if (entries.length === 0) return [];
    if (this.#source.batch) {
      const ids = entries.map(([id]) => String(id));
      return [this.#message(ids, entries.map(([, fields]) => toWire(fields ?? [])))];
    }
    return entries.map(([id, fields]) => this.#message([String(id)], [toWire(fields ?? [])]));
  }

  /** Pending entries deleted from the stream (XDEL, trimming) come back without fields: ack them away. */
  async #dropDeleted(entries: RawEntry[]): Promise<RawEntry[]> {
    const deleted = entries.filter(([, fields]) => fields === null).map(([id]) => String(id));
    if (deleted.length === 0) return entries;
    this.deps.logger.warn({ subscriber: this.name }, `${deleted.length} pending entries were deleted from the stream; acknowledging them.`);
    await this.#xack(deleted);
    return entries.filter(([, fields]) => fields !== null);
  }

  #message(ids: string[], items: WireMessage[]): Message {
    const settler = this.#settler(ids);
    // A `>` read is a first delivery; counts of redelivered entries come from the PEL.
    const firstDelivery = this.#group !== undefined && this.#cursor === '>';
    return new Message({
      source: { kind: 'stream', name: this.name },
      items,
      batch: this.#source.batch,
      ids,
      ...(firstDelivery ? { deliveryCount: 1 } : {}),
      ...(settler ? { settler } : {}),
      raw: ids,
    });
  }

  #settler(ids: string[]): Settler | undefined {
    if (!this.#group || this.#source.noAck) return undefined;
    const ack = (): Promise<void> => this.#xack(ids);
    // nack leaves the entry pending: it is redelivered on restart or claimed after minIdleTime.
    return { ack, nack: () => Promise.resolve(), reject: ack };
  }

  async #xack(ids: string[]): Promise<void> {
    await this.deps.strategy.commands.send('XACK', this.name, [this.name, this.#group!.name, ...ids]);
  }

  async #createGroup(): Promise<void> {
    const group = this.#group!;
    const args = ['CREATE', this.name, group.name, this.#source.lastId, ...(this.#source.declare ? ['MKSTREAM'] : [])];
    try {
      await this.deps.strategy.commands.send('XGROUP', this.name, args);
    } catch (error) {
      const message = (error as Error).message;
      if (message.startsWith('BUSYGROUP')) return;
      if (!this.#source.declare && message.includes('requires the key to exist')) {
        throw new SetupError(
          `Stream "${this.name}" does not exist and \`declare\` is false on its StreamSub, so group "${group.name}" cannot be created. ` +
            'Create the stream first or set `declare: true`.',
          { cause: error },
        );
      }
      throw error;
    }
  }

  async #lastEntryId(): Promise<string> {
    const last = (await this.deps.strategy.commands.send('XREVRANGE', this.name, [this.name, '+', '-', 'COUNT', 1])) as RawEntry[];
    return last[0] ? String(last[0][0]) : '0-0';
  }
}

/** An entry's fields as a wire message: `__data__` holds the envelope; other shapes become JSON (spec §5.5). */
function toWire(fields: Buffer[]): WireMessage {
  const map: Record<string, string> = {};
  for (let i = 0; i < fields.length; i += 2) {
    const name = String(fields[i]);
    if (name === DATA_FIELD) return parseWire(fields[i + 1] ?? Buffer.alloc(0));
    map[name] = String(fields[i + 1]);
  }
  return parseWire(Buffer.from(JSON.stringify(map)));
}
