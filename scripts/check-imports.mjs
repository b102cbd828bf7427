#!/usr/bin/env node
// Fails when the architecture's import rules break:
//   - layers: core → redis → testing | asyncapi | cli (never backwards; core never imports Redis);
//     the opentelemetry and prometheus middlewares import core only
//   - no import cycles between files of src/
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src');
const layers = ['core', 'redis', 'testing', 'asyncapi', 'cli', 'opentelemetry', 'prometheus'];
const allowed = {
  core: ['core'],
  redis: ['core', 'redis'],
  testing: ['core', 'redis', 'testing'],
  asyncapi: ['core', 'redis', 'asyncapi'],
  cli: ['core', 'redis', 'asyncapi', 'testing', 'cli', 'opentelemetry', 'prometheus'],
  // Middlewares see messages and publishes only: no Redis.
  opentelemetry: ['core', 'opentelemetry'],
  prometheus: ['core', 'prometheus'],
};
const forbiddenPackages = { core: ['ioredis', '@opentelemetry/api', 'prom-client'], opentelemetry: ['ioredis'], prometheus: ['ioredis'] };

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

const layerOf = (file) => relative(root, file).split('/')[0];
const problems = [];
const graph = new Map();
for (const file of files(root)) {
  const source = readFileSync(file, 'utf8');
  const specifiers = [...source.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/g)].map((m) => m[1]);
  const layer = layerOf(file);
  const edges = [];
  for (const spec of specifiers) {
    if (spec.startsWith('.')) {
      const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
      const targetLayer = layerOf(target);
      if (layers.includes(layer) && layers.includes(targetLayer) && !allowed[layer].includes(targetLayer)) {
        problems.push(`${relative(root, file)} imports ${spec}: src/${layer} may not import src/${targetLayer}`);
      }
      edges.push(target);
    } else if ((forbiddenPackages[layer] ?? []).some((pkg) => spec === pkg || spec.startsWith(`${pkg}/`))) {
      problems.push(`${relative(root, file)} imports ${spec}: src/${layer} must stay transport-agnostic`);
    }
  }
  graph.set(file, edges);
}

// Cycle detection (depth-first, colouring).
const state = new Map();
const stack = [];
function visit(file) {
  state.set(file, 'open');
  stack.push(file);
  for (const next of graph.get(file) ?? []) {
    if (state.get(next) === 'open') {
      const cycle = stack.slice(stack.indexOf(next)).concat(next).map((f) => relative(root, f));
      problems.push(`import cycle: ${cycle.join(' → ')}`);
    } else if (!state.has(next) && graph.has(next)) visit(next);
  }
  stack.pop();
  state.set(file, 'done');
}
for (const file of graph.keys()) if (!state.has(file)) visit(file);

if (problems.length > 0) {
  console.error(`check-imports: ${problems.length} problem(s)\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`check-imports: ${graph.size} files, layers and cycles ok`);
