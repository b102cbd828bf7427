import { Redis } from 'ioredis';
import { NotConnectedError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { closeClient, connectClient, execAtomic, reconnect, reportErrors, type ClientOptions, type ClientRole } from './client.js';
import { sendFramed, TickCork, unreachable, type ErrorMapper } from './framed.js';
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
  /** The connection shared readers read on (not the command one: reads must not queue behind publishes). */
  #reader: Redis | undefined;
  #opening: Promise<Redis> | undefined;
  readonly #readCork = new TickCork(() => [this.#reader?.stream]);
  #losses = 0;
  readonly shared: SharedReading;

  constructor(address: string, options: (role: ClientRole) => ClientOptions, logger: Logger) {
    this.address = address;
    this.#mapError = unreachable(address, options('command').maxRetriesPerRequest ?? 0);
    this.#options = options;
    this.#logger = logger;
    const losses = (): number => this.#losses;
    this.shared = {
      // One server holds every key: one blocking command can wait on many of them.
      wakeup: 'lanes',
      open: async () => {
        await this.#openReader();
      },
      read: (command, _key, args) => {
        const reader = this.#reader;
        if (!reader) return this.#openReader().then(() => this.shared.read(command, _key, args));
        this.#readCork.holdAfterFirst();
        return sendFramed(reader, command, args, undefined, this.#mapError, true);
      },
      get losses() {
        return losses();
      },
      // One server: nothing to look up; its connections recover on their own once it answers.
      stalled: () => Promise.resolve(),
    };
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
      send: (command, args) => client.callBuffer(command, ...args),
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
    this.#reader = undefined;
    this.#opening = undefined;
    await Promise.all(clients.map((client) => closeClient(client)));
  }

  #openReader(): Promise<Redis> {
    this.#commandClient();
    this.#opening ??= this.#open('reader').then(
      (reader) => {
        reader.on('reconnecting', () => {
          this.#losses += 1;
        });
        this.#reader = reader;
        return reader;
      },
      (error: unknown) => {
        this.#opening = undefined;
        throw error;
      },
    );
    return this.#opening;
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
