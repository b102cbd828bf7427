import { Socket } from 'node:net';
import { redisTargets } from './targets.js';

/** Fails fast, with the fix, when the Redis topology the tests need is not running. */
export default async function setup(): Promise<void> {
  const { single, cluster } = redisTargets();
  for (const [what, target, variable] of [['Redis', single, 'REDSTREAM_REDIS_URL'], ['Redis Cluster node', cluster, 'REDSTREAM_CLUSTER_URL']] as const) {
    if (!(await canConnect(target.host, target.port))) {
      throw new Error(
        `No ${what} at ${target.host}:${target.port}. Start the test topology with \`npm run redis:up\` ` +
          `(or point ${variable} at one).`,
      );
    }
  }
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
