import { Socket } from 'node:net';
import type { TestProject } from 'vitest/node';
import { projectNeeds, redisTargets, SECURE_PORTS, SENTINEL_SETS, type RedisName } from './targets.js';

/**
 * Fails fast, with the fix, when a Redis this project needs (`REDSTREAM_NEEDS` in its `env`) is not
 * running. A project that needs none (unit, memory) checks nothing.
 */
export default async function setup(project: TestProject): Promise<void> {
  const { single, cluster, chaos } = redisTargets();
  const where: Record<RedisName, { what: string; host: string; port: number; fix: string }> = {
    single: { what: 'Redis', ...single, fix: 'or point REDSTREAM_REDIS_URL at one' },
    cluster: { what: 'Redis Cluster node', ...cluster, fix: 'or point REDSTREAM_CLUSTER_URL at one' },
    chaos: { what: 'node of the chaos Redis Cluster', ...chaos, fix: 'or point REDSTREAM_CHAOS_URL at one' },
    'tls-single': { what: 'TLS Redis node', host: '127.0.0.1', port: SECURE_PORTS['tls-single'][0], fix: 'it is started with the others' },
    'tls-cluster': { what: 'TLS Redis Cluster node', host: '127.0.0.1', port: SECURE_PORTS['tls-cluster'][0], fix: 'it is started with the others' },
    sentinel: { what: 'Redis Sentinel', ...sentinelAt('sentinel'), fix: 'it is started with the others' },
    'sentinel-chaos': { what: 'Redis Sentinel of the chaos set', ...sentinelAt('sentinel-chaos'), fix: 'it is started with the others' },
    'tls-sentinel': { what: 'TLS Redis Sentinel', ...sentinelAt('tls-sentinel'), fix: 'it is started with the others' },
  };
  for (const name of projectNeeds({ ...process.env, ...project.config.env })) {
    const { what, host, port, fix } = where[name];
    if (!(await canConnect(host, port))) {
      throw new Error(`No ${what} at ${host}:${port} (needed by the "${project.name}" tests). Start the test topology with \`npm run redis:up\` (${fix}).`);
    }
  }
}

function sentinelAt(set: keyof typeof SENTINEL_SETS): { host: string; port: number } {
  const [host, port] = SENTINEL_SETS[set].sentinels[0]!;
  return { host, port };
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.setTimeout(2000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
    socket.connect(port, host);
  });
}
