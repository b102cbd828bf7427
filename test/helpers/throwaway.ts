/** A redis-server of a test's own, on a free port, for tests that kill or restart it. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const DIR = process.env['REDSTREAM_REDIS_DIR'] ?? '/tmp/redstream-redis';

/** A loopback port nothing listens on now. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

/** Starts a plain, non-persistent node on `port`, as redis-up.sh would. */
export function startRedis(port: number): void {
  execFileSync('bash', [join(root, 'scripts/redis-node.sh'), 'plain', String(port)]);
}

/** The pid file redis-server writes for `port` (redis-node.sh's and the tests' own). */
export function pidFile(port: number): string {
  return join(DIR, `redis-${port}.pid`);
}

/** SIGKILLs the server on `port`, if it still runs, and returns once it is gone (its port free again). */
export function killRedis(port: number): void {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile(port), 'utf8'));
    process.kill(pid, 'SIGKILL');
  } catch {
    return; // Already gone.
  }
  // A restart on the same port right after must not find the old process still holding it.
  execFileSync('bash', ['-c', `for _ in $(seq 1 200); do kill -0 ${pid} 2>/dev/null || exit 0; sleep 0.01; done; exit 1`]);
}
