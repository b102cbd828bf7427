/**
 * The README blocks marked `<!-- readme: run -->` run as written, against a Redis of their own
 * (started here on a free port and stopped after, so the shared server keeps none of their keys).
 */
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readmeBlocks } from '../helpers/readme.js';
import { freePort, killRedis, startRedis } from '../helpers/throwaway.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
describe('the README', () => {
  const runnable = readmeBlocks().filter((block) => block.runs);

  it.each(runnable.map((block) => [block.line, block.code] as const))('block at README.md:%i runs as written', async (line, code) => {
    const port = await freePort();
    startRedis(port);
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
      killRedis(port);
    }
  }, 60_000);
});
