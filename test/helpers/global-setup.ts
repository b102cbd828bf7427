import { Socket } from 'node:net';
import { redisTargets } from './targets.js';

/** Fails fast, with the fix, when the Redis topology the tests need is not running. */
export default async function setup(): Promise<void> {
  const { single } = redisTargets();
  const reachable = await canConnect(single.host, single.port);
  if (!reachable) {
    throw new Error(
      `No Redis at ${single.host}:${single.port}. Start the test topology with \`npm run redis:up\` ` +
        '(or point REDSTREAM_REDIS_URL at a server).',
    );
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
