import { OptionError } from '../core/errors.js';
import { RedisBroker } from './broker.js';
import { ClusterStrategy, type StartupNode } from './connection/cluster.js';
import type { RedisBrokerOptions } from './options.js';
import type { Topology } from './topology.js';

/** Options of `new RedisClusterBroker()`: every `RedisBrokerOptions` option, plus `startupNodes`. */
export interface RedisClusterBrokerOptions extends RedisBrokerOptions {
  /** More seed nodes, after the URL's: `[['10.0.0.2', 7001], ['10.0.0.3', 7002]]`. One reachable seed is enough. */
  readonly startupNodes?: readonly StartupNode[];
}

/** Redis Cluster: slot-routed commands, readers that follow their key, sharded Pub/Sub, per-master pipelines. */
const cluster: Topology<RedisClusterBrokerOptions> = {
  name: 'cluster',
  optionKeys: ['startupNodes'],
  nodes: (config, options) => [`${config.host}:${config.port}`, ...checkStartupNodes(options.startupNodes).map(([host, port]) => `${host}:${port}`)],
  factory: (config, options, logger) => {
    if (config.db !== 0) {
      throw new OptionError('db', config.db, '0 on a RedisClusterBroker (Redis Cluster has a single database); remove it from the options and the URL');
    }
    const seeds = checkStartupNodes(options.startupNodes);
    return () => new ClusterStrategy(config, seeds, logger);
  },
};

/**
 * A drop-in replacement for RedisBroker on Redis Cluster: same constructor and options, plus
 * `startupNodes`; one URL is enough, the rest of the cluster is discovered.
 *
 * @example
 * // before: new RedisBroker('redis://node1:7000', options)
 * const broker = new RedisClusterBroker('redis://node1:7000', { ...options, startupNodes: [['node2', 7001]] });
 */
export class RedisClusterBroker extends RedisBroker {
  /** @internal */
  static override readonly topology: Topology<RedisClusterBrokerOptions> = cluster;

  /**
   * @param url a `redis://` or `rediss://` URL of any node of the cluster.
   * @param options RedisBroker's options plus `startupNodes`. `db` must be 0: a cluster has one database.
   */
  constructor(url?: string | RedisClusterBrokerOptions, options: RedisClusterBrokerOptions = {}) {
    super(url, options);
  }
}

function checkStartupNodes(nodes: unknown): StartupNode[] {
  if (nodes === undefined) return [];
  const expected = 'an array of [host, port] pairs, e.g. [["10.0.0.2", 7001]]';
  if (!Array.isArray(nodes)) throw new OptionError('startupNodes', nodes, expected);
  return nodes.map((node: unknown, index) => {
    const ok = Array.isArray(node) && node.length === 2 && typeof node[0] === 'string' && node[0] !== '' && Number.isInteger(node[1]) && (node[1] as number) > 0;
    if (!ok) throw new OptionError(`startupNodes[${index}]`, node, expected);
    return [node[0] as string, node[1] as number] as const;
  });
}
