/**
 * `npm run bench:profile -- '<scenario JSON>' [--top N]`: runs one scenario (as bench/worker.ts does)
 * under V8's CPU profiler and prints where its client time went: the heaviest functions by self
 * time, and self time per package or source folder. bench/results/profile.md keeps the summaries
 * that the README's paragraph on per-message cost quotes.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const top = args.includes('--top') ? Number(args[args.indexOf('--top') + 1]) : 25;
const scenario = args.find((arg) => arg.startsWith('{'));
if (!scenario) {
  process.stderr.write("usage: npm run bench:profile -- '<scenario JSON, as bench/worker.ts takes>' [--top N]\n");
  process.exit(2);
}
const messages = (JSON.parse(scenario) as { messages: number }).messages;

const dir = mkdtempSync(join(tmpdir(), 'redstream-profile-'));
try {
  const out = execFileSync(process.execPath, ['--cpu-prof', '--cpu-prof-dir', dir, '--import', 'tsx', 'bench/worker.ts', scenario], { cwd: root, encoding: 'utf8' });
  process.stdout.write(`result: ${out.trim().split('\n').pop()}\n`);
  const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
  if (!file) throw new Error('the worker wrote no profile');
  summarize(JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/** Where a frame's code lives: a package, a folder of redstream's, node's internals or V8. */
function place(url: string): string {
  if (url === '') return '(V8 / native)';
  if (url.startsWith('node:')) return 'node internals';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1] === 'redstream' ? 'redstream (dist)' : pkg[1]!;
  const own = /\/(src|dist|bench)\/(.*)\/[^/]+$/.exec(url) ?? /\/(src|dist|bench)\/[^/]+$/.exec(url);
  if (own) return own[2] ? `redstream ${own[1]}/${own[2]}` : `redstream ${own[1]}`;
  return url;
}

function summarize(profile: Profile): void {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  let total = 0;
  for (const [index, id] of profile.samples.entries()) {
    const delta = profile.timeDeltas[index] ?? 0;
    self.set(id, (self.get(id) ?? 0) + delta);
    total += delta;
  }
  const perFunction = new Map<string, number>();
  const perPlace = new Map<string, number>();
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    if (functionName === '(idle)' || functionName === '(program)' || functionName === '(garbage collector)') {
      perFunction.set(functionName, (perFunction.get(functionName) ?? 0) + us);
      perPlace.set(functionName, (perPlace.get(functionName) ?? 0) + us);
      continue;
    }
    const name = `${functionName || '(anonymous)'} ${url.replace(/^.*\/(node_modules|src|dist|bench)\//, '$1/')}:${lineNumber + 1}`;
    perFunction.set(name, (perFunction.get(name) ?? 0) + us);
    perPlace.set(place(url), (perPlace.get(place(url)) ?? 0) + us);
  }
  const busy = total - (perFunction.get('(idle)') ?? 0);
  const row = (name: string, us: number): string => `| ${name} | ${(us / messages).toFixed(1)} | ${((us / busy) * 100).toFixed(1)}% |`;
  const sorted = (map: Map<string, number>): Array<[string, number]> => [...map].filter(([name]) => name !== '(idle)').sort((a, b) => b[1] - a[1]);
  process.stdout.write(`\nsampled: ${(busy / 1000).toFixed(0)} ms busy of ${(total / 1000).toFixed(0)} ms, ${(busy / messages).toFixed(1)} µs busy per message\n\n`);
  process.stdout.write('| where | self µs/msg | share of busy |\n|---|---|---|\n');
  for (const [name, us] of sorted(perPlace)) process.stdout.write(`${row(name, us)}\n`);
  process.stdout.write(`\n| function | self µs/msg | share of busy |\n|---|---|---|\n`);
  for (const [name, us] of sorted(perFunction).slice(0, top)) process.stdout.write(`${row(name, us)}\n`);
}
