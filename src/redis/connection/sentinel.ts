/**
 * Redis Sentinel: the single-node plumbing (NodeStrategy), with every connection opened to the
 * master the sentinels name, and a watcher on the sentinels' `+switch-master` announcements that
 * moves every connection to the new master at once, instead of waiting for the old one to fail
 * or to admit its demotion. For a while after a switch, a sentinel that has not heard of it yet
 * (ioredis asks the next sentinel of the list on each reconnection) is not followed back to the
 * old master, which goes on accepting writes until the sentinels demote it, seconds later: writes
 * that would be lost with it.
 */
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { Redis } from 'ioredis';
import type { Logger } from '../../core/logger.js';
import type { ConnectionConfig } from '../options.js';
import { clientOptions, closeClient, type ClientOptions, type ClientRole } from './client.js';
import { NodeStrategy } from './node.js';

/** How to reach the sentinels, resolved. */
export interface SentinelConfig {
  readonly sentinels: ReadonlyArray<readonly [host: string, port: number]>;
  readonly masterName: string;
  /** Credentials and TLS of the connections to the sentinels (not to the master). */
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly tls: TlsOptions | undefined;
}

/** Replies that mean "this node is no longer the master": reconnect, which asks the sentinels again. */
const DEMOTED = /^(READONLY|UNBLOCKED|MASTERDOWN)\b/;

/** A strategy for a master found and followed through Redis Sentinel. */
export class SentinelStrategy extends NodeStrategy {
  readonly #watcher: SwitchWatcher;

  constructor(config: ConnectionConfig, sentinel: SentinelConfig, logger: Logger) {
    const address = `master "${sentinel.masterName}" via sentinels ${sentinel.sentinels.map(([host, port]) => `${host}:${port}`).join(', ')}`;
    const redirect = new SwitchRedirect();
    super(address, (role) => sentinelOptions(config, sentinel, role, redirect), logger);
    this.#watcher = new SwitchWatcher(sentinel, logger, (from, to) => {
      logger.warn({ master: sentinel.masterName, to }, `Sentinel switched master "${sentinel.masterName}" to ${to}; moving every connection there.`);
      redirect.switched(from, to);
      this.reconnectAll();
    });
  }

  override async connect(): Promise<void> {
    await super.connect();
    this.#watcher.start();
  }

  override async close(): Promise<void> {
    await this.#watcher.stop();
    await super.close();
  }
}

/** ioredis options of a connection to the master the sentinels name. */
function sentinelOptions(config: ConnectionConfig, sentinel: SentinelConfig, role: ClientRole, redirect: SwitchRedirect): ClientOptions {
  const { host: _host, port: _port, tls, ...node } = clientOptions(config, role);
  return {
    ...node,
    sentinels: sentinel.sentinels.map(([host, port]) => ({ host, port })),
    name: sentinel.masterName,
    role: 'master',
    ...(sentinel.username === undefined ? {} : { sentinelUsername: sentinel.username }),
    ...(sentinel.password === undefined ? {} : { sentinelPassword: sentinel.password }),
    ...(sentinel.tls === undefined ? {} : { sentinelTLS: sentinel.tls }),
    // ioredis speaks TLS to the master only in this mode.
    ...(tls === undefined ? {} : { tls, enableTLSForSentinelMode: true }),
    // A few rounds over every sentinel, then an error (the connection's own retryStrategy goes on
    // after that; at start, the broker reports the sentinels as unreachable).
    sentinelRetryStrategy: (attempt: number) => (attempt <= 3 ? attempt * 100 : null),
    // The watcher follows failovers; one per connection would multiply sentinel connections.
    failoverDetector: false,
    // ioredis maps every address a sentinel names through this (the sentinels' own too).
    natMap: redirect.map,
    // A demoted master: a command is sent again to the new one; a blocked read fails instead, so a
    // group consumer re-reads its pending entries (a reply may have been lost with the old master).
    reconnectOnError: (error: Error) => (DEMOTED.test(error.message) ? (role === 'command' ? 2 : 1) : false),
  };
}

/** How long after a switch a sentinel naming the old master is taken to be behind. */
const REDIRECT_MS = 30_000;

/**
 * Sentinels hear of a failover from one another within a few seconds; one cut off from the others
 * may go on naming the old master for longer. Until REDIRECT_MS after a `+switch-master`, an
 * answer naming the old master is read as the new one. A later switch that the watcher sees
 * replaces the redirect. One it missed (every sentinel out of its reach at that moment) that went
 * back to the old address would have connections sent to a replica, refused by ioredis's role
 * check, until the window ends: the bound keeps that to 30 s instead of for good.
 */
class SwitchRedirect {
  #from = '';
  #to: { host: string; port: number } | undefined;
  #until = 0;

  switched(from: string, to: string): void {
    const at = to.lastIndexOf(':');
    this.#from = from;
    this.#to = { host: to.slice(0, at), port: Number(to.slice(at + 1)) };
    this.#until = Date.now() + REDIRECT_MS;
  }

  // A new object each time: ioredis adds the TLS options to the one it is given.
  readonly map = (address: string): { host: string; port: number } | null =>
    this.#to !== undefined && address === this.#from && Date.now() < this.#until ? { ...this.#to } : null;
}

/** Subscribes to `+switch-master` on every sentinel; reports each new address of the master once. */
class SwitchWatcher {
  readonly #sentinel: SentinelConfig;
  readonly #logger: Logger;
  readonly #onSwitch: (from: string, to: string) => void;
  #clients: Redis[] = [];
  #current: string | undefined;

  constructor(sentinel: SentinelConfig, logger: Logger, onSwitch: (from: string, to: string) => void) {
    this.#sentinel = sentinel;
    this.#logger = logger;
    this.#onSwitch = onSwitch;
  }

  start(): void {
    if (this.#clients.length > 0) return;
    const { sentinels, masterName, username, password, tls } = this.#sentinel;
    this.#clients = sentinels.map(([host, port]) => {
      const client = new Redis({
        host,
        port,
        ...(username === undefined ? {} : { username }),
        ...(password === undefined ? {} : { password }),
        ...(tls === undefined ? {} : { tls }),
        protocol: 2,
        // A sentinel down now is watched again when it comes back.
        retryStrategy: (attempt: number) => Math.min(attempt * 200, 2000),
        maxRetriesPerRequest: null,
      });
      let reported = false;
      client.on('ready', () => (reported = false));
      client.on('error', (error: Error) => {
        if (reported) return;
        reported = true;
        this.#logger.warn({ sentinel: `${host}:${port}` }, `Sentinel ${host}:${port}: ${error.message}; watching the others for failovers.`);
      });
      client.on('message', (_channel: string, text: string) => {
        // `<master-name> <old-ip> <old-port> <new-ip> <new-port>`
        const [name, oldIp, oldPort, ip, newPort] = text.split(' ');
        if (name !== masterName || ip === undefined || newPort === undefined) return;
        const to = `${ip}:${newPort}`;
        if (to === this.#current) return;
        this.#current = to;
        this.#onSwitch(`${oldIp}:${oldPort}`, to);
      });
      client.subscribe('+switch-master').catch(() => undefined);
      return client;
    });
  }

  async stop(): Promise<void> {
    const clients = this.#clients;
    this.#clients = [];
    await Promise.all(clients.map((client) => closeClient(client, true)));
  }
}
