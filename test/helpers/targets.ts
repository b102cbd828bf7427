/** Where the test topology started by `npm run redis:up` listens, and what a Vitest project runs on. */

export interface Endpoint {
  readonly url: string;
  readonly host: string;
  readonly port: number;
}

/** The targets a behaviour suite can run on. */
export const TARGET_NAMES = ['memory', 'single', 'cluster', 'sentinel'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

/** The Redis processes a project may need: the targets' own, the chaos cluster and Sentinel set, and the TLS nodes. */
export const REDIS_NAMES = ['single', 'cluster', 'chaos', 'sentinel', 'sentinel-chaos', 'tls-single', 'tls-cluster', 'tls-sentinel'] as const;
export type RedisName = (typeof REDIS_NAMES)[number];

function parse(url: string): Endpoint {
  const parsed = new URL(url);
  return { url, host: parsed.hostname, port: Number(parsed.port || 6379) };
}

export function redisTargets(): { single: Endpoint; cluster: Endpoint; chaos: Endpoint } {
  return {
    single: parse(process.env['REDSTREAM_REDIS_URL'] ?? 'redis://127.0.0.1:6379'),
    cluster: parse(process.env['REDSTREAM_CLUSTER_URL'] ?? 'redis://127.0.0.1:7000'),
    chaos: parse(process.env['REDSTREAM_CHAOS_URL'] ?? 'redis://127.0.0.1:7100'),
  };
}

/** A Sentinel set started by `npm run redis:up`: the name its sentinels monitor the master under, and where they listen. */
export interface SentinelSet {
  readonly masterName: string;
  readonly sentinels: ReadonlyArray<readonly [string, number]>;
}

/** The Sentinel sets: one for the shared suites, one the failover tests may kill, one with TLS and ACL everywhere. */
export const SENTINEL_SETS: Readonly<Record<'sentinel' | 'sentinel-chaos' | 'tls-sentinel', SentinelSet>> = {
  sentinel: { masterName: 'redstream', sentinels: [['127.0.0.1', 26400], ['127.0.0.1', 26401], ['127.0.0.1', 26402]] },
  'sentinel-chaos': { masterName: 'redstream-chaos', sentinels: [['127.0.0.1', 26410], ['127.0.0.1', 26411], ['127.0.0.1', 26412]] },
  'tls-sentinel': { masterName: 'redstream-tls', sentinels: [['127.0.0.1', 26420]] },
};

/** The TLS + ACL topology (no plaintext port): a node and a 3-master cluster. */
export const SECURE_PORTS = { 'tls-single': [6390], 'tls-cluster': [7200, 7201, 7202] } as const;

function list<T extends string>(value: string | undefined, allowed: readonly T[], variable: string): T[] | undefined {
  if (value === undefined) return undefined;
  const names = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const name of names) {
    if (!(allowed as readonly string[]).includes(name)) throw new Error(`${variable}: unknown name "${name}" (expected ${allowed.join(', ')})`);
  }
  return names as T[];
}

/**
 * The targets the shared behaviour suites run on in this Vitest project: `REDSTREAM_TARGETS`
 * (comma-separated), which vitest.config.ts sets per project; all of them when it is unset.
 */
export function projectTargets(env: Record<string, string | undefined> = process.env): TargetName[] {
  return list(env['REDSTREAM_TARGETS'], TARGET_NAMES, 'REDSTREAM_TARGETS') ?? [...TARGET_NAMES];
}

/** The Redis processes this project needs (`REDSTREAM_NEEDS`, set per project): checked at start, cleaned after each file. */
export function projectNeeds(env: Record<string, string | undefined> = process.env): RedisName[] {
  return list(env['REDSTREAM_NEEDS'], REDIS_NAMES, 'REDSTREAM_NEEDS') ?? ['single', 'cluster'];
}
