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

/**
 * Returns once the server on `port` answers PING: `redis-server --daemonize yes` returns when it has
 * forked, before it listens (longer still when it first loads an append-only file).
 */
export function waitForPing(port: number): void {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    try {
      if (execFileSync('redis-cli', ['-p', String(port), 'PING'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).includes('PONG')) return;
    } catch {
      // Not listening yet.
    }
    pauseSync(50);
  }
  throw new Error(`redis-server on port ${port} does not answer PING 5 s after it was started`);
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
  // A restart on the same port right after must not find the old process still holding it. A
  // zombie (dead, not yet reaped by its parent, here the machine's init) holds nothing any more.
  for (let attempt = 0; attempt < 500; attempt += 1) {
    if (!alive(pid)) return;
    pauseSync(10);
  }
  throw new Error(`redis-server ${pid} on port ${port} still runs 5 s after SIGKILL`);
}

/** Blocks the thread for `ms` (these helpers run synchronously, between a test's awaits). */
function pauseSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Whether `pid` runs: exists and is not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
