/**
 * One Redis node: a shared auto-pipelined command connection, one connection per blocking
 * reader, and one per Pub/Sub subscriber set.
 */
import { Redis } from 'ioredis';
import type { Logger } from '../../core/logger.js';
import type { ConnectionConfig } from '../options.js';
import { clientOptions, closeClient, connectClient, type ClientRole } from './client.js';
import { sendFramed, TickCork } from './framed.js';
import { sendEach, type BlockingConnection, type CommandClient, type ConnectionStrategy, type QueuedCommand } from './strategy.js';

export class SingleNodeStrategy implements ConnectionStrategy {
  readonly topology = 'single' as const;
  readonly address: string;
  readonly #config: ConnectionConfig;
  readonly #logger: Logger;
  readonly #clients = new Set<Redis>();
  #command: Redis | undefined;
  readonly #cork = new TickCork(() => [this.#command?.stream]);
  readonly commands: CommandClient = {
    send: (command, _key, args) => {
      const client = this.#commandClient();
      this.#cork.hold();
      return sendFramed(client, command, args);
    },
  };

  constructor(config: ConnectionConfig, logger: Logger) {
    this.#config = config;
    this.#logger = logger;
    this.address = `${config.host}:${config.port}`;
  }

  async connect(): Promise<void> {
    if (this.#command) return;
    this.#command = await this.#open('command');
  }

  async openBlocking(): Promise<BlockingConnection> {
    const client = await this.#open('blocking');
    const id = String(await client.call('CLIENT', 'ID'));
    return {
      send: (command, args) => client.callBuffer(command, ...args),
      interrupt: () => unblock(this.commands, id),
      reset: async () => {
        // ioredis reconnects and re-sends the pending command.
        client.disconnect(true);
        await Promise.resolve();
      },
      close: (force) => this.#release(client, force),
    };
  }

  openSubscriber(): Promise<Redis> {
    return this.#open('subscriber');
  }

  atomicAcross(): boolean {
    return true;
  }

  async exec(commands: readonly QueuedCommand[], atomic: boolean): Promise<unknown[]> {
    if (!atomic) return sendEach(this.commands, commands);
    const batch = this.#commandClient().multi();
    for (const command of commands) batch.call(command.name, ...command.args);
    const replies = (await batch.exec()) ?? [];
    return replies.map(([error, result]) => error ?? result);
  }

  async close(): Promise<void> {
    const clients = [...this.#clients];
    this.#clients.clear();
    this.#command = undefined;
    await Promise.all(clients.map((client) => closeClient(client)));
  }

  #commandClient(): Redis {
    if (!this.#command) throw new Error('SingleNodeStrategy used before connect()');
    return this.#command;
  }

  async #open(role: ClientRole): Promise<Redis> {
    const client = new Redis(clientOptions(this.#config, role));
    await connectClient(client, this.address);
    client.on('error', (error: Error) => {
      this.#logger.warn({ err: error, role }, `Redis connection (${role}) to ${this.address}: ${error.message}`);
    });
    this.#clients.add(client);
    return client;
  }

  async #release(client: Redis, force = false): Promise<void> {
    this.#clients.delete(client);
    await closeClient(client, force);
  }
}

/** Unblocks a blocked reader; without CLIENT permission (ACL) the read just runs to its timeout. */
export async function unblock(commands: CommandClient, clientId: string): Promise<void> {
  await commands.send('CLIENT', '', ['UNBLOCK', clientId, 'TIMEOUT']).catch(() => undefined);
}
