/**
 * Broker options (spec §1.1 in camelCase, times in ms) and how they become connection
 * settings: the URL first, explicit options over it.
 */
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import type { AckPolicy } from '../core/ack.js';
import { OptionError } from '../core/errors.js';
import type { UserContext } from '../core/context.js';
import type { Logger } from '../core/logger.js';
import type { MiddlewareLike } from '../core/middleware.js';
import { checkInt, checkKeys } from './sources.js';

/** How to reach Redis. Explicit options override what the URL says. */
export interface RedisConnectionOptions {
  /** Overrides the URL's host. */
  readonly host?: string;
  /** Overrides the URL's port. @defaultValue `6379` */
  readonly port?: number;
  /** Database index (SELECT). Overrides the URL path. @defaultValue `0` */
  readonly db?: number;
  /** ACL user (AUTH username password). */
  readonly username?: string;
  readonly password?: string;
  /** `true` (or a `rediss://` URL) for TLS with defaults; an object for Node TLS options (ca, cert, key, servername…). */
  readonly tls?: boolean | TlsOptions;
  /** CLIENT SETNAME for every connection the broker opens. */
  readonly clientName?: string;
  /** Give up connecting after this many ms. @defaultValue `10000` */
  readonly socketConnectTimeout?: number;
  /** Fail a command (not a blocking read) that gets no answer within this many ms. Unset: wait. */
  readonly socketTimeout?: number;
  /** TCP keep-alive initial delay in ms; `0` disables it. @defaultValue `30000` */
  readonly socketKeepalive?: number;
  /** Delay before reconnect attempt N (ms), or `null` to give up. @defaultValue `min(N * 100, 2000)` */
  readonly retryStrategy?: (attempt: number) => number | null;
  /**
   * Reconnect attempts a command (a publish, an acknowledgement) waits through while Redis is
   * unreachable before it fails with a NotConnectedError naming this option. With the default
   * `retryStrategy` that is about 20 s for the default.
   * @defaultValue `20`
   */
  readonly commandRetries?: number;
}

/** Everything `new RedisBroker(url, options)` accepts. */
export interface RedisBrokerOptions extends RedisConnectionOptions {
  /** How long `stop()` waits for in-flight handlers, in ms. @defaultValue `15000` */
  readonly gracefulTimeout?: number;
  /** Default ack policy for stream group subscribers. @defaultValue `'nackOnError'` */
  readonly ackPolicy?: AckPolicy;
  /** Makes correlation IDs for publishes that do not set one. @defaultValue `crypto.randomUUID` */
  readonly idGenerator?: () => string;
  /** pino-compatible logger; `null` silences the broker. @defaultValue a console logger at info level */
  readonly logger?: Logger | null;
  /** Middlewares for every subscriber and publish, outermost first. */
  readonly middlewares?: readonly MiddlewareLike[];
  /** Human description (AsyncAPI). */
  readonly description?: string;
  /**
   * The application's values handlers and middlewares reach through `msg.context` (a database
   * pool, a client): declare their types by merging into the `Context` interface.
   */
  readonly context?: UserContext;
  /**
   * On a cluster, list and stream readers that share connections are woken by a doorbell that
   * redstream's producers ring; an idle reader also reads this often (ms), to find what other
   * producers (FastStream, redis-cli) wrote. The longest such a message waits. Unused on a
   * single node and with Sentinel, where shared reads block. @defaultValue `1000`
   */
  readonly foreignPollInterval?: number;
}

const connectionKeys = [
  'host', 'port', 'db', 'username', 'password', 'tls', 'clientName', 'socketConnectTimeout', 'socketTimeout', 'socketKeepalive', 'retryStrategy',
  'commandRetries',
] as const;
/** Every option name a broker accepts; any other key is rejected as a likely typo. */
export const brokerKeys = [
  ...connectionKeys, 'gracefulTimeout', 'ackPolicy', 'idGenerator', 'logger', 'middlewares', 'description', 'context', 'foreignPollInterval',
] as const;

/** Where and how to connect, resolved. */
export interface ConnectionConfig {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly tls: TlsOptions | undefined;
  readonly clientName: string | undefined;
  readonly connectTimeout: number;
  readonly commandTimeout: number | undefined;
  readonly keepAlive: number;
  readonly retryStrategy: (attempt: number) => number | null;
  readonly commandRetries: number;
}

/** The URL a broker connects to when given none. */
export const DEFAULT_URL = 'redis://localhost:6379';

/** Parses the URL, applies explicit options over it, and checks every value. */
export function resolveConnection(url: string | undefined, options: RedisBrokerOptions, known: readonly string[] = brokerKeys): ConnectionConfig {
  checkKeys('the broker', options, known);
  const fromUrl = parseUrl(url ?? DEFAULT_URL);
  const port = options.port ?? fromUrl.port;
  const db = options.db ?? fromUrl.db;
  const tls = options.tls ?? fromUrl.tls;
  if (options.host !== undefined && (typeof options.host !== 'string' || !options.host)) throw new OptionError('host', options.host, 'a host name');
  checkInt('port', port, 1);
  checkInt('db', db, 0);
  if (tls !== undefined && typeof tls !== 'boolean' && (typeof tls !== 'object' || tls === null)) {
    throw new OptionError('tls', tls, 'true, false or Node TLS options');
  }
  for (const key of ['username', 'password', 'clientName'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'string') throw new OptionError(key, options[key], 'a string');
  }
  if (options.retryStrategy !== undefined && typeof options.retryStrategy !== 'function') {
    throw new OptionError('retryStrategy', options.retryStrategy, 'a function (attempt) => delay in ms or null');
  }
  return {
    host: options.host ?? fromUrl.host,
    port,
    db,
    username: options.username ?? fromUrl.username,
    password: options.password ?? fromUrl.password,
    tls: tls === true ? {} : tls === false ? undefined : tls,
    clientName: options.clientName,
    connectTimeout: checkInt('socketConnectTimeout', options.socketConnectTimeout ?? 10_000, 1),
    commandTimeout: options.socketTimeout === undefined ? undefined : checkInt('socketTimeout', options.socketTimeout, 1),
    keepAlive: checkInt('socketKeepalive', options.socketKeepalive ?? 30_000, 0),
    retryStrategy: options.retryStrategy ?? ((attempt) => Math.min(attempt * 100, 2000)),
    commandRetries: checkInt('commandRetries', options.commandRetries ?? 20, 0),
  };
}

interface UrlParts {
  host: string;
  port: number;
  db: number;
  username: string | undefined;
  password: string | undefined;
  tls: boolean | undefined;
}

function parseUrl(url: string): UrlParts {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new OptionError('url', url, 'a URL such as "redis://localhost:6379" or "rediss://user:pass@host:6380/0"');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new OptionError('url', url, 'a redis:// or rediss:// URL');
  }
  const path = parsed.pathname.replace(/^\//, '');
  const db = path === '' ? 0 : Number(path);
  if (!Number.isInteger(db) || db < 0) throw new OptionError('url', url, 'a URL whose path is a database number, e.g. redis://host:6379/2');
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1') || 'localhost',
    port: parsed.port ? Number(parsed.port) : 6379,
    db,
    username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    tls: parsed.protocol === 'rediss:' ? true : undefined,
  };
}

/** Broker-level settings that are not about connecting. */
export interface BrokerSettings {
  readonly gracefulTimeout: number;
  readonly idGenerator: () => string;
  readonly foreignPollInterval: number;
}

/** Checks the broker's non-connection options and fills in their defaults (`gracefulTimeout` 15000 ms). */
export function resolveSettings(options: RedisBrokerOptions, defaultId: () => string): BrokerSettings {
  if (options.idGenerator !== undefined && typeof options.idGenerator !== 'function') {
    throw new OptionError('idGenerator', options.idGenerator, 'a function returning a string');
  }
  return {
    gracefulTimeout: checkInt('gracefulTimeout', options.gracefulTimeout ?? 15_000, 0),
    idGenerator: options.idGenerator ?? defaultId,
    foreignPollInterval: checkInt('foreignPollInterval', options.foreignPollInterval ?? 1000, 1),
  };
}
