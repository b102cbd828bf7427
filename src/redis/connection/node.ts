import { Redis } from 'ioredis';
import { NotConnectedError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { closeClient, connectClient, execAtomic, reconnect, reportErrors, type ClientOptions, type ClientRole } from './client.js';
import { sendFramed, TickCork, unreachable, type ErrorMapper } from './framed.js';
import { ReaderConnection } from './reader.js';
import { sendEach, type BlockingConnection, type CommandClient, type ConnectionStrategy, type QueuedCommand, type SharedReading } from './strategy.js';

/**
 * The ioredis plumbing for a topology served by one master at a time (a single node; next, a
 * Sentinel-managed set): a shared auto-pipelined command connection, one connection per blocking
 * reader, one per Pub/Sub subscriber set. How a connection finds its server is the only thing a
 * topology supplies: `options(role)` gives the ioredis options of a connection for that role;
 * `address` names the server in logs and errors (no credential).
 */
export class NodeStrategy implements ConnectionStrategy {
  readonly address: string;
  readonly shardedReplies = false;
  readonly #options: (role: ClientRole) => ClientOptions;
  readonly #logger: Logger;
  readonly #clients = new Set<Redis>();
  readonly #mapError: ErrorMapper;
  #command: Redis | undefined;
  readonly #cork = new TickCork(() => [this.#command?.stream]);
  readonly commands: CommandClient = {
    send: (command, _key, args) => {
      const client = this.#commandClient();
      this.#cork.hold();
      return sendFramed(client, command, args, undefined, this.#mapError);
    },
  };
  readonly #reader: ReaderConnection<Redis>;
  readonly shared: SharedReading;

  constructor(address: string, options: (role: ClientRole) => ClientOptions, logger: Logger) {
    this.address = address;
    this.#mapError = unreachable(address, options('command').maxRetriesPerRequest ?? 0);
    this.#options = options;
    this.#logger = logger;
    this.#reader = new ReaderConnection<Redis>({
      // One server holds every key: one blocking command can wait on many of them.
      wakeup: 'lanes',
      open: () => {
        this.#commandClient();
        return this.#open('reader');
      },
      watch: (client, lost) => client.on('reconnecting', lost),
      sockets: (client) => [client.stream],
      slot: () => undefined,
      mapError: this.#mapError,
      // One server: nothing to look up; its connections recover on their own once it answers.
      stalled: () => Promise.resolve(),
    });
    this.shared = this.#reader;
  }

  async connect(): Promise<void> {
    if (this.#command) return;
    this.#command = await this.#open('command');
  }

  async openBlocking(): Promise<BlockingConnection> {
    const client = await this.#open('blocking');
    let id = String(await client.call('CLIENT', 'ID'));
    let reconnects = 0;
    client.on('ready', () => {
      reconnects += 1;
      // A new connection has a new ID: unblocking must name it.
      client.call('CLIENT', 'ID').then((value) => (id = String(value)), () => undefined);
    });
    return {
      send: (command, args) => sendFramed(client, command, args, undefined, undefined, true),
      interrupt: () => unblock(this.commands, id),
      reset: async () => {
        // ioredis reconnects and re-sends the pending command.
        reconnect(client);
        await Promise.resolve();
      },
      close: (force) => this.#release(client, force),
      get reconnects() {
        return reconnects;
      },
    };
  }

  openSubscriber(): Promise<Redis> {
    return this.#open('subscriber');
  }

  atomicAcross(): boolean {
    return true;
  }

  exec(commands: readonly QueuedCommand[], atomic: boolean): Promise<unknown[]> {
    return atomic ? execAtomic(this.#commandClient(), commands) : sendEach(this.commands, commands);
  }

  /**
   * Drops every connection; ioredis reconnects each (finding the server anew) and sends its
   * pending commands again. For a topology whose server can change (Sentinel).
   */
  protected reconnectAll(): void {
    for (const client of this.#clients) {
      // A client still connecting asks where the server is anyway; interrupting that would end it.
      if (client.status === 'ready' || client.status === 'connect') reconnect(client);
    }
  }

  async close(): Promise<void> {
    const clients = [...this.#clients];
    this.#clients.clear();
    this.#command = undefined;
    this.#reader.forget();
    await Promise.all(clients.map((client) => closeClient(client)));
  }

  #commandClient(): Redis {
    if (!this.#command) throw new NotConnectedError(`Not connected to Redis at ${this.address}: connect() first.`);
    return this.#command;
  }

  async #open(role: ClientRole): Promise<Redis> {
    const client = new Redis(this.#options(role));
    await connectClient(client, this.address);
    reportErrors(client, this.#logger, `Redis connection (${role}) to ${this.address}`, role);
    this.#clients.add(client);
    return client;
  }

  async #release(client: Redis, force = false): Promise<void> {
    this.#clients.delete(client);
    await closeClient(client, force);
  }
}

/** Unblocks a blocked reader; without CLIENT permission (ACL) the read just runs to its timeout. */
async function unblock(commands: CommandClient, clientId: string): Promise<void> {
  await commands.send('CLIENT', '', ['UNBLOCK', clientId, 'TIMEOUT']).catch(() => undefined);
}
