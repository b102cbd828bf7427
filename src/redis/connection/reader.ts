/**
 * The connection list and stream readers share for their non-blocking reads (see SharedReading):
 * opened once, when the first reader starts; apart from the command connection, so reads never
 * queue behind publishes. A node strategy gives it one ioredis client, a cluster one Cluster.
 */
import { Opening } from '../../core/opening.js';
import { sendFramed, TickCork, type CommandSink, type Corkable, type ErrorMapper } from './framed.js';
import type { SharedReading } from './strategy.js';

/** What differs between topologies. */
export interface ReaderSetup<C extends CommandSink> {
  readonly wakeup: SharedReading['wakeup'];
  /** Opens the connection (the strategy's client for the `reader` role). */
  readonly open: () => Promise<C>;
  /** Calls `lost` whenever one of the client's connections is lost. */
  readonly watch: (client: C, lost: () => void) => void;
  /** The sockets the client writes reads to. */
  readonly sockets: (client: C) => Iterable<Corkable | undefined>;
  /** The cluster slot a key's read goes to; undefined on one server. */
  readonly slot: (key: string) => number | undefined;
  readonly mapError: ErrorMapper;
  readonly stalled: () => Promise<void>;
}

/** The readers' shared connection: a node strategy's or a cluster strategy's `shared`. */
export class ReaderConnection<C extends CommandSink> implements SharedReading {
  readonly wakeup: SharedReading['wakeup'];
  readonly #setup: ReaderSetup<C>;
  readonly #cork: TickCork;
  #client: C | undefined;
  readonly #opening = new Opening<C>();
  #losses = 0;

  constructor(setup: ReaderSetup<C>) {
    this.#setup = setup;
    this.wakeup = setup.wakeup;
    this.#cork = new TickCork(() => (this.#client ? setup.sockets(this.#client) : []));
  }

  get losses(): number {
    return this.#losses;
  }

  async open(): Promise<void> {
    await this.#connect();
  }

  read(command: string, key: string, args: ReadonlyArray<string | Buffer | number>): Promise<unknown> {
    const client = this.#client;
    if (!client) return this.#connect().then(() => this.read(command, key, args));
    // A reader sends its next read before running what the last one brought: that one leaves at
    // once, so the round trip overlaps the handlers; further reads of the tick share a write.
    this.#cork.holdAfterFirst();
    return sendFramed(client, command, args, this.#setup.slot(key), this.#setup.mapError, true);
  }

  stalled(): Promise<void> {
    return this.#setup.stalled();
  }

  /** Forgets the client (the strategy closes it with its others). */
  forget(): void {
    this.#client = undefined;
    void this.#opening.forget();
  }

  #connect(): Promise<C> {
    return this.#opening.get(async () => {
      const client = await this.#setup.open();
      this.#setup.watch(client, () => {
        this.#losses += 1;
      });
      this.#client = client;
      return client;
    });
  }
}
