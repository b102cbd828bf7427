/**
 * A topology says how a broker reaches Redis: which options it adds to `RedisBrokerOptions`, how
 * they are checked, and the factory of its connection strategy. Brokers differ in their topology
 * and nothing else.
 */
import type { Logger } from '../core/logger.js';
import { clientOptions } from './connection/client.js';
import { NodeStrategy } from './connection/node.js';
import type { StrategyFactory } from './connection/strategy.js';
import type { ServerDescription } from './description.js';
import type { ConnectionConfig, RedisBrokerOptions } from './options.js';

/** How a broker reaches Redis: its extra options, their checks, and its connection strategy. */
export interface Topology<Options extends RedisBrokerOptions = RedisBrokerOptions> {
  /** `single`, `cluster`, … as the broker's description names it. */
  readonly name: string;
  /** Option names the topology adds to `RedisBrokerOptions`. */
  readonly optionKeys: readonly string[];
  /** Every seed address, `host:port`, for the description (never a credential). */
  nodes(config: ConnectionConfig, options: Options): readonly string[];
  /** Checks the topology's options (throwing an OptionError that names the bad one) and returns the strategy factory. */
  factory(config: ConnectionConfig, options: Options, logger: Logger): StrategyFactory;
}

/** One Redis server: `RedisBroker`. */
export const singleNode: Topology = {
  name: 'single',
  optionKeys: [],
  nodes: (config) => [`${config.host}:${config.port}`],
  factory: (config, _options, logger) => () => new NodeStrategy(`${config.host}:${config.port}`, (role) => clientOptions(config, role), logger),
};

/** Where a broker on this topology connects, for its description (never a credential). */
export function describeServer<Options extends RedisBrokerOptions>(topology: Topology<Options>, config: ConnectionConfig, options: Options): ServerDescription {
  const nodes = topology.nodes(config, options);
  // The first seed names the server: the node, a cluster's first seed, or the first sentinel.
  const first = nodes[0] ?? `${config.host}:${config.port}`;
  const at = first.lastIndexOf(':');
  return { topology: topology.name, host: first.slice(0, at), port: Number(first.slice(at + 1)), tls: config.tls !== undefined, db: config.db, nodes };
}
