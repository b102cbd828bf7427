/**
 * Commands as pre-encoded RESP frames, with the sockets corked until the next tick.
 *
 * ioredis's auto-pipelining costs more than the command itself for small messages: a Pipeline
 * per tick, and for every Buffer argument a copy into a per-command buffer and another into the
 * pipeline's. Here each command is encoded once, into one Buffer, and handed to ioredis as a
 * {@link Command}: replies, timeouts, the offline queue, resending after a reconnect and cluster
 * redirects stay ioredis's. Corking the connection's socket until the next tick makes a burst of
 * commands leave in one write, as auto-pipelining would.
 */
import { Command } from 'ioredis';
import { NotConnectedError } from '../../core/errors.js';

/** One command argument; strings are written as UTF-8, numbers as their decimal text. */
export type Arg = string | Buffer | number;

/** The part of an ioredis client (single node or cluster) this module drives. */
export interface CommandSink {
  sendCommand(command: Command): unknown;
}

/** A socket that can hold writes back: net.Socket and tls.TLSSocket. */
export interface Corkable {
  readonly writable: boolean;
  cork(): void;
  uncork(): void;
}

/** Turns ioredis's errors into ones that say what to do (see {@link unreachable}). */
export type ErrorMapper = (error: Error, command: string) => Error;

class FramedCommand extends Command {
  readonly #frame: Buffer;

  constructor(name: string, args: readonly Arg[], frame: Buffer, slot: number | undefined, mapError: ErrorMapper | undefined, buffers: boolean) {
    // Bulk replies as UTF-8 strings, like `call`, or as Buffers, like `callBuffer`.
    super(name, args as Arg[], { replyEncoding: buffers ? null : 'utf8' });
    this.#frame = frame;
    if (mapError) {
      const reject = this.reject;
      this.reject = (error: Error) => reject(mapError(error, name));
    }
    // ioredis routes by the command's key specs, and keyless commands (PUBLISH) to a random node;
    // routing by our key keeps one channel's publishes on one connection, so in order.
    if (slot !== undefined) (this as unknown as { slot: number }).slot = slot;
  }

  override toWritable(): Buffer {
    return this.#frame;
  }
}

/**
 * Sends `name args…` through `sink` and resolves with the reply (bulk strings as UTF-8, or as
 * Buffers with `buffers`). `slot`: the cluster slot to send it to (MOVED and ASK are still followed).
 */
export function sendFramed(sink: CommandSink, name: string, args: readonly Arg[], slot?: number, mapError?: ErrorMapper, buffers = false): Promise<unknown> {
  const command = new FramedCommand(name, args, encodeFrame(name, args), slot, mapError, buffers);
  sink.sendCommand(command);
  return command.promise;
}

const lengths: number[] = [];

/** `*N\r\n$len\r\nname\r\n$len\r\narg\r\n…` in one allocation. */
export function encodeFrame(name: string, args: readonly Arg[]): Buffer {
  let text = `*${args.length + 1}\r\n$${name.length}\r\n${name}\r\n`;
  let size = text.length;
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i]!;
    const length = typeof arg === 'string' ? Buffer.byteLength(arg) : typeof arg === 'number' ? String(arg).length : arg.length;
    lengths[i] = length;
    size += 1 + digits(length) + 2 + length + 2;
  }
  const out = Buffer.allocUnsafe(size);
  let offset = 0;
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i]!;
    text += `$${lengths[i]!}\r\n`;
    if (typeof arg === 'string' || typeof arg === 'number') {
      text += `${arg}\r\n`;
      continue;
    }
    offset += out.write(text, offset, 'utf8');
    text = '\r\n';
    offset += arg.copy(out, offset);
  }
  out.write(text, offset, 'utf8');
  return out;
}

function digits(n: number): number {
  let count = 1;
  for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) count += 1;
  return count;
}

/**
 * Holds writes to a set of sockets until the next tick: the first command of a tick corks them,
 * a tick later they are uncorked and everything written meanwhile goes out together.
 */
export class TickCork {
  readonly #sockets: () => Iterable<Corkable | undefined>;
  #held: Corkable[] | undefined;
  #started = false;

  /** `sockets` lists the sockets commands may be written to now; asked once per tick. */
  constructor(sockets: () => Iterable<Corkable | undefined>) {
    this.#sockets = sockets;
  }

  /**
   * Like hold(), but the first command of a tick leaves at once and only the ones after it wait:
   * for a reader that sends its next read before running what the last one brought, so the round
   * trip overlaps its handlers, while many readers' reads in one tick still share a write.
   */
  holdAfterFirst(): void {
    if (this.#held) return;
    if (!this.#started) {
      this.#started = true;
      process.nextTick(() => {
        this.#started = false;
      });
      return;
    }
    this.hold();
  }

  hold(): void {
    if (this.#held) return;
    const held: Corkable[] = [];
    for (const socket of this.#sockets()) {
      if (socket?.writable) {
        socket.cork();
        held.push(socket);
      }
    }
    this.#held = held;
    process.nextTick(() => this.#release());
  }

  #release(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const socket of held) socket.uncork();
  }
}

/**
 * An error mapper for commands to `address`: running out of `commandRetries` while Redis is
 * unreachable becomes a NotConnectedError that names the option.
 */
export function unreachable(address: string, retries: number): ErrorMapper {
  return (error, command) => {
    if (error.name !== 'MaxRetriesPerRequestError') return error;
    return new NotConnectedError(
      `${command} failed: Redis at ${address} stayed unreachable through ${retries} reconnect attempts (option \`commandRetries\`). ` +
        'The command may or may not have reached Redis before the connection was lost.',
      { cause: error },
    );
  };
}
