/**
 * Creating ioredis clients from the resolved options, with the protocol pinned and a clear
 * error when Redis cannot be reached.
 */
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import type { Logger } from '../../core/logger.js';
import { NotConnectedError } from '../../core/errors.js';
import type { ConnectionConfig } from '../options.js';
import type { QueuedCommand } from './strategy.js';

/**
 * What a connection is used for: plain commands (publishes, acknowledgements), the non-blocking
 * reads readers share (`reader`), a blocking read, or Pub/Sub.
 */
export type ClientRole = 'command' | 'reader' | 'blocking' | 'subscriber';

/** ioredis options for one connection of the given role. */
export function clientOptions(config: ConnectionConfig, role: ClientRole) {
  return {
    host: config.host,
    port: config.port,
    db: config.db,
    ...(config.username === undefined ? {} : { username: config.username }),
    ...(config.password === undefined ? {} : { password: config.password }),
    ...(config.tls === undefined ? {} : { tls: config.tls }),
    ...(config.clientName === undefined ? {} : { connectionName: config.clientName }),
    // RESP2 everywhere: the reply shapes we parse do not depend on the server's HELLO support.
    protocol: 2,
    connectTimeout: config.connectTimeout,
    keepAlive: config.keepAlive,
    retryStrategy: config.retryStrategy,
    lazyConnect: true,
    enableAutoPipelining: role === 'command',
    // A blocking read waits as long as its BLOCK/timeout says; only plain commands time out.
    ...((role === 'command' || role === 'reader') && config.commandTimeout !== undefined ? { commandTimeout: config.commandTimeout } : {}),
    // Commands queue while reconnecting instead of failing; blocking readers re-issue theirs.
    maxRetriesPerRequest: role === 'command' || role === 'reader' ? config.commandRetries : null,
  } satisfies RedisOptions;
}

/** What a connection through Redis Sentinel sets besides (see connection/sentinel.ts). */
export interface SentinelFields {
  readonly sentinels?: Array<{ host: string; port: number }>;
  readonly name?: string;
  readonly role?: 'master';
  readonly sentinelUsername?: string;
  readonly sentinelPassword?: string;
  readonly sentinelTLS?: TlsOptions;
  readonly enableTLSForSentinelMode?: boolean;
  readonly sentinelRetryStrategy?: (attempt: number) => number | null;
  readonly failoverDetector?: boolean;
  readonly natMap?: (address: string) => { host: string; port: number } | null;
  readonly reconnectOnError?: (error: Error) => boolean | 1 | 2;
}

/** ioredis options of one connection: to a server by address, or to the master Sentinel names. */
export type ClientOptions = Omit<ReturnType<typeof clientOptions>, 'host' | 'port'> & { readonly host?: string; readonly port?: number } & SentinelFields;

/** Options for a connection to one node of a cluster: the node's address is decided elsewhere. */
export function nodeOptions(config: ConnectionConfig, role: ClientRole) {
  const { host: _host, port: _port, db: _db, retryStrategy: _retry, lazyConnect: _lazy, ...node } = clientOptions(config, role);
  return node;
}
/** ioredis options of a connection to one cluster node. */
export type NodeOptions = ReturnType<typeof nodeOptions>;

/** Connects a client, or rejects with a NotConnectedError naming the address and the cause. */
export async function connectClient(client: Redis, address: string): Promise<void> {
  let lastError: unknown;
  const onError = (error: unknown): void => {
    lastError = error;
  };
  client.on('error', onError);
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    const cause = lastError ?? error;
    throw new NotConnectedError(
      `Cannot connect to Redis at ${address}: ${(cause as Error).message}. Check the broker's url, host, port, tls and credentials.`,
      { cause },
    );
  } finally {
    client.off('error', onError);
  }
}

/** Closes a client politely (QUIT after pending replies), or at once with `force`. */
export async function closeClient(client: { readonly status: string; quit(): Promise<unknown>; disconnect(): void }, force = false): Promise<void> {
  if (client.status === 'end') return;
  try {
    if (client.status === 'ready' && !force) await client.quit();
    else client.disconnect();
  } catch {
    client.disconnect();
  }
}

/** Runs the commands in one MULTI/EXEC; each command's reply, or its Error, in call order. */
export async function execAtomic(client: Redis | Cluster, commands: readonly QueuedCommand[]): Promise<unknown[]> {
  const multi = client.multi();
  for (const command of commands) multi.call(command.name, ...command.args);
  return ((await multi.exec()) ?? []).map(([error, result]) => error ?? result);
}

/** Clients redstream itself is reconnecting (a watchdog reset, a Sentinel switch): not an outage to log. */
const deliberate = new WeakSet<object>();

/** Drops a client's connection on purpose; ioredis reconnects it and re-sends what was pending. */
export function reconnect(client: Redis): void {
  deliberate.add(client);
  client.disconnect(true);
}

/**
 * Logs a client's connection losses (ioredis reconnects by itself; without an error listener its
 * errors would crash the process): the first error or drop of an outage, and the recovery, not
 * every retry. A connection closed under us without an error (CLIENT KILL, a server restart) is
 * a loss too.
 */
export function reportErrors(client: Redis | Cluster, logger: Logger, label: string, role: ClientRole): void {
  let failing = false;
  const lost = (error: Error | undefined): void => {
    if (failing) return;
    failing = true;
    if (error) logger.warn({ err: error, role }, `${label}: ${error.message}; reconnecting.`);
    else logger.warn({ role }, `${label}: connection closed by the server; reconnecting.`);
  };
  client.on('error', (error: Error) => lost(error));
  client.on('reconnecting', () => {
    if (deliberate.delete(client)) return;
    lost(undefined);
  });
  client.on('ready', () => {
    if (!failing) return;
    failing = false;
    logger.info({ role }, `${label}: reconnected.`);
  });
}
