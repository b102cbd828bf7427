import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { OptionError } from '../core/errors.js';
import { RedisBroker } from './broker.js';
import { SentinelStrategy, type SentinelConfig } from './connection/sentinel.js';
import type { RedisBrokerOptions } from './options.js';
import { checkKeys } from './sources.js';
import type { Topology } from './topology.js';

/** How the broker talks to the sentinels themselves (never to the master). */
export interface SentinelOptions {
  /** ACL user of the sentinels, when they require one. */
  readonly username?: string;
  /** Password of the sentinels (`requirepass`, or the ACL user's). */
  readonly password?: string;
  /** `true` for TLS with defaults, or Node TLS options (ca, cert, key, servername…), for the sentinel connections. */
  readonly tls?: boolean | TlsOptions;
}

/**
 * Options of `new RedisSentinelBroker()`: every `RedisBrokerOptions` option (they apply to the
 * master: credentials, `db`, TLS, timeouts), plus where the sentinels are.
 */
export interface RedisSentinelBrokerOptions extends RedisBrokerOptions {
  /** The sentinels to ask for the master, `[host, port]` each; one reachable sentinel is enough. Required. */
  readonly sentinels: ReadonlyArray<readonly [host: string, port: number]>;
  /** The name the sentinels monitor the master under (`sentinel monitor <name> …`). Required. */
  readonly sentinelMasterName: string;
  /** Credentials and TLS for the connections to the sentinels only. */
  readonly sentinelOptions?: SentinelOptions;
}

const sentinel: Topology<RedisSentinelBrokerOptions> = {
  name: 'sentinel',
  optionKeys: ['sentinels', 'sentinelMasterName', 'sentinelOptions'],
  nodes: (_config, options) => checkSentinels(options).sentinels.map(([host, port]) => `${host}:${port}`),
  factory: (config, options, logger) => {
    const resolved = checkSentinels(options);
    return () => new SentinelStrategy(config, resolved, logger);
  },
};

/**
 * A broker on a master/replica set managed by Redis Sentinel: the same API and behaviour as
 * RedisBroker, on whichever node the sentinels name master. Every connection moves to the new
 * master as soon as a sentinel announces a failover (`+switch-master`).
 *
 * The URL's host and port are not used (the sentinels say where the master is); its credentials
 * and database, and every option of RedisBroker, apply to the master.
 *
 * @example
 * const broker = new RedisSentinelBroker('redis://:secret@ignored/0', {
 *   sentinels: [['10.0.0.1', 26379], ['10.0.0.2', 26379]],
 *   sentinelMasterName: 'mymaster',
 *   sentinelOptions: { password: 'sentinel-secret' },
 * });
 */
export class RedisSentinelBroker extends RedisBroker {
  /** @internal */
  static override readonly topology: Topology<RedisSentinelBrokerOptions> = sentinel;

  /**
   * @param url `redis://[user:password@]any-host[/db]` (or `rediss://` for TLS to the master): credentials and database of the master.
   * @param options RedisBroker's options plus `sentinels`, `sentinelMasterName` and `sentinelOptions`.
   */
  constructor(url: string | undefined, options: RedisSentinelBrokerOptions);
  constructor(options: RedisSentinelBrokerOptions);
  constructor(url: string | RedisSentinelBrokerOptions | undefined, options?: RedisSentinelBrokerOptions) {
    super(url, options);
  }
}

function checkSentinels(options: RedisSentinelBrokerOptions): SentinelConfig {
  const { sentinels, sentinelMasterName: name, sentinelOptions = {} } = options;
  const expected = 'a non-empty array of [host, port] pairs, e.g. [["10.0.0.1", 26379]]; it is required for RedisSentinelBroker';
  if (!Array.isArray(sentinels) || sentinels.length === 0) throw new OptionError('sentinels', sentinels, expected);
  const checked = (sentinels as readonly unknown[]).map((node, index) => {
    const ok = Array.isArray(node) && node.length === 2 && typeof node[0] === 'string' && node[0] !== '' && Number.isInteger(node[1]) && (node[1] as number) > 0;
    if (!ok) throw new OptionError(`sentinels[${index}]`, node, 'a [host, port] pair, e.g. ["10.0.0.1", 26379]');
    return [node[0] as string, node[1] as number] as const;
  });
  if (typeof name !== 'string' || name === '') {
    throw new OptionError('sentinelMasterName', name, 'the master name the sentinels monitor (`sentinel monitor <name> …`); it is required for RedisSentinelBroker');
  }
  if (typeof sentinelOptions !== 'object' || sentinelOptions === null) throw new OptionError('sentinelOptions', sentinelOptions, 'an object { username?, password?, tls? }');
  checkKeys('sentinelOptions', sentinelOptions, ['username', 'password', 'tls']);
  for (const key of ['username', 'password'] as const) {
    if (sentinelOptions[key] !== undefined && typeof sentinelOptions[key] !== 'string') throw new OptionError(`sentinelOptions.${key}`, sentinelOptions[key], 'a string');
  }
  const { tls } = sentinelOptions;
  if (tls !== undefined && typeof tls !== 'boolean' && (typeof tls !== 'object' || tls === null)) {
    throw new OptionError('sentinelOptions.tls', tls, 'true, false or Node TLS options');
  }
  return {
    sentinels: checked,
    masterName: name,
    username: sentinelOptions.username,
    password: sentinelOptions.password,
    tls: tls === true ? {} : tls === false ? undefined : tls,
  };
}
