/**
 * Every TypeScript block of the README compiles (strict, as this project's own code), each as a
 * module of its own, with `redstream` and its subpaths resolved to the source. Names a snippet
 * takes as given (`url`, `app`, …) are declared in readme/prelude.d.ts.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { readmeBlocks } from '../helpers/readme.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function compile(blocks: ReadonlyArray<{ code: string }>): Map<number, string[]> {
  const config = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined })!;
  const options: ts.CompilerOptions = {
    ...config.options,
    noEmit: true,
    baseUrl: root,
    paths: { redstream: ['src/index.ts'], 'redstream/*': ['src/*/index.ts'] },
  };
  // The blocks live, virtually, next to the billing example, whose service one of them imports.
  const names = blocks.map((_, i) => join(root, 'examples/billing', `readme-block-${i}.ts`));
  const sources = new Map(names.map((name, i) => [name, `${blocks[i]!.code}\nexport {};\n`]));
  const base = ts.createCompilerHost(options);
  const host: ts.CompilerHost = {
    ...base,
    fileExists: (name) => sources.has(name) || base.fileExists(name),
    readFile: (name) => sources.get(name) ?? base.readFile(name),
    getSourceFile: (name, version, onError, create) => {
      const source = sources.get(name);
      return source === undefined ? base.getSourceFile(name, version, onError, create) : ts.createSourceFile(name, source, version, true);
    },
  };
  const program = ts.createProgram([...names, join(root, 'test/unit/readme/prelude.d.ts')], options, host);
  const problems = new Map<number, string[]>();
  for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
    const index = diagnostic.file ? names.indexOf(diagnostic.file.fileName) : -1;
    const where = diagnostic.file && diagnostic.start !== undefined ? diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line + 1 : 0;
    const list = problems.get(index) ?? [];
    list.push(`line ${where}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`);
    problems.set(index, list);
  }
  return problems;
}

describe('the README', () => {
  const blocks = readmeBlocks();

  it('has TypeScript blocks, one of them marked to run', () => {
    expect(blocks.length).toBeGreaterThan(5);
    expect(blocks.some((block) => block.runs)).toBe(true);
  });

  it('compiles every TypeScript block', () => {
    const problems = compile(blocks);
    const report = [...problems].map(([index, list]) => `${index < 0 ? 'elsewhere' : `block at README.md:${blocks[index]!.line}`}\n  ${list.join('\n  ')}`);
    expect(report).toEqual([]);
  }, 60_000);
});
