import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The README's ```ts blocks, with the line each starts on. */
export function readmeBlocks(): Array<{ code: string; line: number; runs: boolean }> {
  const text = readFileSync(join(root, 'README.md'), 'utf8');
  const blocks: Array<{ code: string; line: number; runs: boolean }> = [];
  const pattern = /(<!-- readme: run[^>]*-->\n)?```ts\n([\s\S]*?)```/g;
  for (const match of text.matchAll(pattern)) {
    blocks.push({ code: match[2]!, line: text.slice(0, match.index).split('\n').length + (match[1] ? 2 : 1), runs: match[1] !== undefined });
  }
  return blocks;
}

