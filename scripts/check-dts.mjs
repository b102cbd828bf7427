#!/usr/bin/env node
// After `npm run build`: the published declarations show no member marked @internal, and a
// consumer compiles against them (through the package's "exports") with skipLibCheck off.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');

function declarations(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? declarations(path) : path.endsWith('.d.ts') ? [path] : [];
  });
}

const marked = declarations(dist).filter((file) => readFileSync(file, 'utf8').includes('@internal'));
if (marked.length > 0) {
  console.error(`check-dts: @internal left in ${marked.map((f) => relative(root, f)).join(', ')}; is stripInternal on in tsconfig.build.json?`);
  process.exit(1);
}
try {
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'test/package/tsconfig.json')], { stdio: 'inherit' });
} catch {
  console.error('check-dts: a consumer does not compile against dist/*.d.ts (see above).');
  process.exit(1);
}
console.log(`check-dts: ${declarations(dist).length} declaration files, none internal; a consumer compiles against them`);
