/**
 * The README blocks marked `<!-- readme: run -->` run as written, against a Redis of their own
 * (started here on a free port and stopped after, so the shared server keeps none of their keys).
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readmeBlocks } from '../helpers/readme.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DIR = process.env['REDSTREAM_REDIS_DIR'] ?? '/tmp/redstream-redis';

function freePort(): Promise<number> {
  return new Promise((resolvePort) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

describe('the README', () => {
  const runnable = readmeBlocks().filter((block) => block.runs);

  it.each(runnable.map((block) => [block.line, block.code] as const))('block at README.md:%i runs as written', async (line, code) => {
    const port = await freePort();
    execFileSync('bash', [join(root, 'scripts/redis-node.sh'), 'plain', String(port)]);
    const file = join(root, 'test/readme', `.readme-block-${line}-${process.pid}.ts`);
    try {
      // The block as a reader would run it: the package from this checkout, Redis on our own port.
      const source = code.replaceAll("from 'redstream'", `from '${join(root, 'src/index.ts')}'`).replaceAll('redis://localhost:6379', `redis://127.0.0.1:${port}`);
      writeFileSync(file, source);
      const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const code_ = await new Promise<number | null>((resolveExit) => child.on('exit', resolveExit));
      expect({ exit: code_, output }).toMatchObject({ exit: 0 });
      expect(output).not.toMatch(/ERROR/);
      // The tour's request got its answer.
      if (code.includes("channel: 'rpc'")) expect(output).toContain("{ ok: 'a1' }");
    } finally {
      rmSync(file, { force: true });
      const pid = Number(readFileSync(join(DIR, `redis-${port}.pid`), 'utf8'));
      process.kill(pid, 'SIGKILL');
    }
  }, 60_000);
});
